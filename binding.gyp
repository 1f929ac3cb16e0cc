{
  "targets": [
    {
      "target_name": "fd_passing",
      "sources": ["src/native/fd-passing.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "line_io",
      "sources": ["src/native/line-io.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
