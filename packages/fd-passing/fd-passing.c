// Passing open file descriptors over a unix socket (SCM_RIGHTS), for the local share's stdio
// handover, and reading who is at the other end of one (peerCredentials). Received descriptors are close-on-exec (MSG_CMSG_CLOEXEC where the system has it,
// else FD_CLOEXEC set at once after recvmsg) so that a process the receiver spawns later never
// inherits another client's pipes; usocket, the npm package for
// this, receives them without that flag (see README, design notes). Both calls are
// non-blocking: the caller waits for readiness itself.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>
#include <node_api.h>

#ifndef MSG_CMSG_CLOEXEC
#define MSG_CMSG_CLOEXEC 0
#define SET_CLOEXEC_AFTER 1
#endif

#define MAX_FDS 8
#define MAX_BYTES 4096

static napi_value throw_errno(napi_env env, const char *call, int err) {
  char message[128];
  snprintf(message, sizeof message, "%s: %s", call, strerror(err));
  napi_throw_error(env, err == EAGAIN ? "EAGAIN" : "FD_PASSING_FAILED", message);
  return NULL;
}

static int int_arg(napi_env env, napi_value value, int *out) {
  return napi_get_value_int32(env, value, out) == napi_ok;
}

// sendFds(socketFd, data: Buffer, fds: number[]): number of bytes sent
static napi_value send_fds(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int socket_fd;
  void *data;
  size_t length;
  uint32_t count;
  if (argc < 3 || !int_arg(env, argv[0], &socket_fd) || napi_get_buffer_info(env, argv[1], &data, &length) != napi_ok ||
      napi_get_array_length(env, argv[2], &count) != napi_ok || count == 0 || count > MAX_FDS || length == 0) {
    napi_throw_type_error(env, NULL, "sendFds(socketFd, data: Buffer, fds: number[1..8])");
    return NULL;
  }
  int fds[MAX_FDS];
  for (uint32_t i = 0; i < count; i++) {
    napi_value element;
    napi_get_element(env, argv[2], i, &element);
    if (!int_arg(env, element, &fds[i]) || fds[i] < 0) {
      napi_throw_type_error(env, NULL, "sendFds: every descriptor must be a non-negative integer");
      return NULL;
    }
  }
  char control[CMSG_SPACE(sizeof(int) * MAX_FDS)];
  memset(control, 0, sizeof control);
  struct iovec iov = {.iov_base = data, .iov_len = length};
  struct msghdr message = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = CMSG_SPACE(sizeof(int) * count)};
  struct cmsghdr *header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int) * count);
  memcpy(CMSG_DATA(header), fds, sizeof(int) * count);
  ssize_t sent;
  do sent = sendmsg(socket_fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  if (sent < 0) return throw_errno(env, "sendmsg", errno);
  napi_value result;
  napi_create_int64(env, sent, &result);
  return result;
}

// recvFds(socketFd): { data: Buffer, fds: number[] }; data is empty at end of stream.
// Throws with code EAGAIN when nothing is waiting.
static napi_value recv_fds(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int socket_fd;
  if (argc < 1 || !int_arg(env, argv[0], &socket_fd)) {
    napi_throw_type_error(env, NULL, "recvFds(socketFd)");
    return NULL;
  }
  char buffer[MAX_BYTES];
  char control[CMSG_SPACE(sizeof(int) * MAX_FDS)];
  struct iovec iov = {.iov_base = buffer, .iov_len = sizeof buffer};
  struct msghdr message = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  ssize_t received;
  do received = recvmsg(socket_fd, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  while (received < 0 && errno == EINTR);
  if (received < 0) return throw_errno(env, "recvmsg", errno);

  napi_value fds;
  napi_create_array(env, &fds);
  uint32_t count = 0;
  for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header != NULL; header = CMSG_NXTHDR(&message, header)) {
    if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    int received_fds[MAX_FDS];
    if (n > MAX_FDS) n = MAX_FDS;
    memcpy(received_fds, CMSG_DATA(header), n * sizeof(int));
    for (size_t i = 0; i < n; i++) {
#ifdef SET_CLOEXEC_AFTER
      fcntl(received_fds[i], F_SETFD, FD_CLOEXEC);
#endif
      napi_value fd;
      napi_create_int32(env, received_fds[i], &fd);
      napi_set_element(env, fds, count++, fd);
    }
  }
  napi_value data;
  void *copy;
  napi_create_buffer_copy(env, (size_t)received, buffer, &copy, &data);
  napi_value result;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "data", data);
  napi_set_named_property(env, result, "fds", fds);
  // The kernel closes descriptors that did not fit; the caller must know it got fewer.
  napi_value truncated;
  napi_get_boolean(env, (message.msg_flags & MSG_CTRUNC) != 0, &truncated);
  napi_set_named_property(env, result, "truncated", truncated);
  return result;
}

// peerCredentials(socketFd): { uid, gid, pid } of the process at the other end of a connected
// unix socket, as the kernel recorded it at connect (SO_PEERCRED); pid is -1 where the system
// tells only the ids (getpeereid on the BSDs and macOS). Node has no way to ask.
static napi_value peer_credentials(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int socket_fd;
  if (argc < 1 || !int_arg(env, argv[0], &socket_fd)) {
    napi_throw_type_error(env, NULL, "peerCredentials(socketFd)");
    return NULL;
  }
  int64_t uid, gid, pid = -1;
#ifdef SO_PEERCRED
  struct ucred cred;
  socklen_t length = sizeof cred;
  if (getsockopt(socket_fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) return throw_errno(env, "getsockopt(SO_PEERCRED)", errno);
  uid = cred.uid;
  gid = cred.gid;
  pid = cred.pid;
#else
  uid_t peer_uid;
  gid_t peer_gid;
  if (getpeereid(socket_fd, &peer_uid, &peer_gid) != 0) return throw_errno(env, "getpeereid", errno);
  uid = peer_uid;
  gid = peer_gid;
#endif
  napi_value result, value;
  napi_create_object(env, &result);
  napi_create_int64(env, uid, &value);
  napi_set_named_property(env, result, "uid", value);
  napi_create_int64(env, gid, &value);
  napi_set_named_property(env, result, "gid", value);
  napi_create_int64(env, pid, &value);
  napi_set_named_property(env, result, "pid", value);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "sendFds", NAPI_AUTO_LENGTH, send_fds, NULL, &fn);
  napi_set_named_property(env, exports, "sendFds", fn);
  napi_create_function(env, "recvFds", NAPI_AUTO_LENGTH, recv_fds, NULL, &fn);
  napi_set_named_property(env, exports, "recvFds", fn);
  napi_create_function(env, "peerCredentials", NAPI_AUTO_LENGTH, peer_credentials, NULL, &fn);
  napi_set_named_property(env, exports, "peerCredentials", fn);
  return exports;
}
