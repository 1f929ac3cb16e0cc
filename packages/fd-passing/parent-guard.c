// mcp-parent-guard: runs a command so that it dies with the process that started it, even when
// that process is killed with SIGKILL and has no chance to stop it (Linux).
//
//   mcp-parent-guard <parent-pid> <path> <argv0> [args...]
//
// Node cannot run code between fork and exec, so it cannot set PR_SET_PDEATHSIG on a child
// itself. This program sets it on itself instead, then starts the command as its own child in
// its process group (the gateway starts every backend as the leader of a new group) and waits.
// When the parent dies, the kernel signals us and we stop the whole group: the command and
// whatever it started there (npx and its node, a shell's children) get SIGTERM, so that a
// process that must clean up (zrok2 releasing its share) can, and SIGKILL 2 s later if still there. A process that moved to a
// group of its own escapes this. The guard does not read or write the command's stdio (it closes
// its copies of stdin and stdout at once, so ends of file are unchanged), signals sent to the
// group reach the command directly, and the guard exits the way the command did.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t parent;
static volatile sig_atomic_t stopping = 0;

/** Seconds between the group's SIGTERM and its SIGKILL once the parent is gone. */
#define GRACE_SECONDS 2

// Called for the death signal and for SIGTERM/SIGINT/SIGHUP sent to the group: only a parent
// gone is our business; the others reached the command too, and we wait for it to act on them.
// kill() and alarm() are async-signal-safe: the group is stopped from here, with no window in
// which a death signal could be noted and missed.
static void on_signal(int sig) {
  (void)sig;
  if (getppid() == parent || stopping) return;
  stopping = 1;
  kill(0, SIGTERM); // reaches us too: `stopping` is set, so that call returns at once
  alarm(GRACE_SECONDS);
}

static void on_alarm(int sig) {
  (void)sig;
  kill(0, SIGKILL);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: mcp-parent-guard <parent-pid> <path> <argv0> [args...]\n");
    return 127;
  }
  parent = (pid_t)strtol(argv[1], NULL, 10);
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGHUP, &action, NULL);
  sigaction(SIGTERM, &action, NULL);
  sigaction(SIGINT, &action, NULL);
  action.sa_handler = on_alarm;
  sigaction(SIGALRM, &action, NULL);
  if (prctl(PR_SET_PDEATHSIG, SIGHUP) != 0) {
    fprintf(stderr, "mcp-parent-guard: prctl: %s\n", strerror(errno));
    return 127;
  }
  // The parent may have died before prctl took effect: then nobody would ever signal us.
  if (getppid() != parent) return 127;

  pid_t child = fork();
  if (child < 0) {
    fprintf(stderr, "mcp-parent-guard: fork: %s\n", strerror(errno));
    return 127;
  }
  if (child == 0) {
    signal(SIGHUP, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    execv(argv[2], &argv[3]);
    fprintf(stderr, "mcp-parent-guard: cannot run %s: %s\n", argv[2], strerror(errno));
    _exit(127);
  }
  // Our copies would keep the pipes open after the command closed them.
  close(0);
  close(1);

  int status;
  while (waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) return 127;
  }
  // Stopped because the parent is gone: what the command started in the group goes with it.
  if (stopping) kill(0, SIGKILL);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  int sig = WTERMSIG(status);
  signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  raise(sig);
  return 128 + sig;
}
