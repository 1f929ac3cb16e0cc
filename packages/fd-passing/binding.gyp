{
  "targets": [
    {
      "target_name": "fd_passing",
      "sources": ["fd-passing.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
