{
  "targets": [
    {
      "target_name": "fd_passing",
      "sources": ["fd-passing.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ],
  "conditions": [
    ["OS=='linux'", {
      "targets": [
        {
          "target_name": "mcp-parent-guard",
          "type": "executable",
          "sources": ["parent-guard.c"],
          "cflags": ["-Wall", "-Wextra", "-O2"]
        }
      ]
    }]
  ]
}
