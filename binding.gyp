{
  "targets": [
    {
      "target_name": "fd_passing",
      "sources": ["src/native/fd-passing.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
