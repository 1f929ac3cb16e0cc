// Newline-delimited JSON-RPC lines on a raw descriptor, read and written on Node's own event loop
// (uv_poll), for the gateway's hot path. Node's streams cost a relaying hop 11-13 us of CPU a
// call on the Xeon machines (BENCHMARKS.md, 2026-12-02: the bytes-only multiplexer), the floor of
// any JavaScript hop; here a readable event becomes one JS call with every complete line read,
// and the messages JS writes in one loop turn one write(2) per descriptor.
// Semantics follow StreamTransport + LineSplitter: lines without '\n' ('\r' trimmed, empty ones
// skipped), over-long lines reported by their first and last 512 bytes and never buffered whole,
// long lines handed over as the pieces they were read in, unwritten output queued in order (a
// large message by reference to its Buffers). The descriptor handed in is duplicated, so its
// Node owner can be destroyed at once. Everything runs on the main thread.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>

#define EDGE 512
#define READ_BYTES 65536
// Reads per readable event before yielding to the rest of the loop, as Node's streams do.
#define READ_ROUNDS 16

typedef struct {
  char *data;
  size_t len;
  size_t cap;
} bytes_t;

// Output not yet taken by the descriptor, in order: bytes of ours, or a large message's Buffers
// held (referenced, not copied) until written.
typedef struct segment {
  struct segment *next;
  napi_ref held;
  struct iovec *iov;
  int count;
  int index;
  bytes_t owned;
  size_t off;
} segment_t;

typedef struct channel {
  napi_env env;
  uv_poll_t poll;
  int fd;
  int events;
  int reading;
  int writing;
  int ending;
  int closed;
  // Output waits for the end of this loop turn (on the dirty list).
  int dirty;
  int is_socket;
  // Freed once the poll handle is closed and the JS wrapper is gone.
  int holds;
  size_t max_line;
  size_t buffer_at;
  bytes_t pending;
  segment_t *queue_head;
  segment_t *queue_tail;
  // A line longer than buffer_at, as the Buffers it was read in (never joined here).
  napi_ref long_parts;
  uint32_t long_count;
  size_t long_bytes;
  int discarding;
  char head[EDGE];
  size_t head_len;
  char tail[EDGE];
  size_t tail_len;
  napi_ref on_lines;
  napi_ref on_event;
  napi_ref resource;
  napi_async_context async;
  // The batch being filled by the current read.
  napi_value batch;
  uint32_t batch_len;
} channel_t;

static char read_buffer[READ_BYTES];

// Coalescing: what JS writes during one turn of the loop leaves in one write(2) a descriptor,
// right after the poll phase (uv_check; uv_idle keeps the poll from blocking meanwhile). Every
// write wakes its reader, and on these VMs a wake-up costs more than the rest of a relayed call.
static int coalesce = 1;
static int flush_ready = 0;
static uv_check_t flush_check;
static uv_idle_t flush_idle;
static struct channel **dirty_list;
static size_t dirty_len;
static size_t dirty_cap;
// Larger messages are written at once: copying them into the queue would cost more than it saves.
#define COALESCE_MAX 65536

static void release(channel_t *ch) {
  if (--ch->holds > 0) return;
  free(ch->pending.data);
  free(ch);
}

// Room for `len` more bytes; 0 when memory ran out.
static int bytes_reserve(bytes_t *b, size_t len) {
  if (b->len + len <= b->cap) return 1;
  size_t cap = b->cap < 4096 ? 4096 : b->cap;
  while (cap < b->len + len) cap *= 2;
  char *grown = realloc(b->data, cap);
  if (grown == NULL) return 0;
  b->data = grown;
  b->cap = cap;
  return 1;
}

static int bytes_append(bytes_t *b, const char *data, size_t len) {
  if (len == 0) return 1;
  if (!bytes_reserve(b, len)) return 0;
  memcpy(b->data + b->len, data, len);
  b->len += len;
  return 1;
}

static void on_poll(uv_poll_t *handle, int status, int events);

// Empties the partial-line buffer; one a large line grew is given back, not kept for every session.
static void pending_reset(channel_t *ch) {
  ch->pending.len = 0;
  if (ch->pending.cap <= READ_BYTES) return;
  free(ch->pending.data);
  ch->pending.data = NULL;
  ch->pending.cap = 0;
}

static void set_events(channel_t *ch) {
  if (ch->closed) return;
  int events = (ch->reading ? UV_READABLE : 0) | (ch->writing && !ch->dirty && ch->queue_head != NULL ? UV_WRITABLE : 0);
  if (events == ch->events) return;
  ch->events = events;
  if (events == 0) uv_poll_stop(&ch->poll);
  else uv_poll_start(&ch->poll, events, on_poll);
}

// Calls one of the channel's JS callbacks from the loop; ticks and microtasks run after it.
static void call_js(channel_t *ch, napi_ref which, size_t argc, napi_value *argv) {
  napi_env env = ch->env;
  napi_value fn, resource, ignored;
  napi_get_reference_value(env, which, &fn);
  napi_get_reference_value(env, ch->resource, &resource);
  if (fn == NULL || resource == NULL) return;
  if (napi_make_callback(env, ch->async, resource, fn, argc, argv, &ignored) == napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
}

static void emit_event(channel_t *ch, const char *kind, napi_value a, napi_value b) {
  napi_value argv[3];
  napi_create_string_utf8(ch->env, kind, NAPI_AUTO_LENGTH, &argv[0]);
  napi_get_undefined(ch->env, &argv[1]);
  argv[2] = argv[1];
  if (a != NULL) argv[1] = a;
  if (b != NULL) argv[2] = b;
  call_js(ch, ch->on_event, 3, argv);
}

static napi_value errno_text(napi_env env, int err) {
  napi_value text;
  napi_create_string_utf8(env, strerror(err), NAPI_AUTO_LENGTH, &text);
  return text;
}

static void flush_batch(channel_t *ch) {
  if (ch->batch_len == 0) return;
  napi_value batch = ch->batch;
  ch->batch = NULL;
  ch->batch_len = 0;
  call_js(ch, ch->on_lines, 1, &batch);
}

static void add_line(channel_t *ch, const char *line, size_t len) {
  if (len > 0 && line[len - 1] == '\r') len--;
  if (len == 0) return;
  napi_env env = ch->env;
  napi_value value;
  if (len >= ch->buffer_at) {
    void *copy;
    napi_create_buffer_copy(env, len, line, &copy, &value);
  } else {
    napi_create_string_utf8(env, line, len, &value);
  }
  if (ch->batch == NULL) napi_create_array(env, &ch->batch);
  napi_set_element(env, ch->batch, ch->batch_len++, value);
}

static void keep_tail(channel_t *ch, const char *data, size_t len) {
  if (len >= EDGE) {
    memcpy(ch->tail, data + len - EDGE, EDGE);
    ch->tail_len = EDGE;
    return;
  }
  size_t keep = ch->tail_len + len > EDGE ? EDGE - len : ch->tail_len;
  memmove(ch->tail, ch->tail + ch->tail_len - keep, keep);
  memcpy(ch->tail + keep, data, len);
  ch->tail_len = keep + len;
}

// Adds a piece of the long line being read, as a Buffer of its own.
static void long_push(channel_t *ch, const char *data, size_t len) {
  if (len == 0) return;
  napi_value parts, buffer;
  void *copy;
  napi_get_reference_value(ch->env, ch->long_parts, &parts);
  napi_create_buffer_copy(ch->env, len, data, &copy, &buffer);
  napi_set_element(ch->env, parts, ch->long_count++, buffer);
  ch->long_bytes += len;
  keep_tail(ch, data, len);
}

// A line grows past buffer_at: from now on its pieces go to JS as they were read. Its first
// bytes are kept for an oversize report, should it get too long after all.
static void long_start(channel_t *ch, const char *data, size_t len) {
  napi_value parts;
  napi_create_array(ch->env, &parts);
  napi_create_reference(ch->env, parts, 1, &ch->long_parts);
  ch->long_count = 0;
  ch->long_bytes = 0;
  ch->tail_len = 0;
  size_t pending = ch->pending.len;
  size_t take = pending < EDGE ? pending : EDGE;
  if (take > 0) memcpy(ch->head, ch->pending.data, take);
  size_t more = take < EDGE ? (len < EDGE - take ? len : EDGE - take) : 0;
  memcpy(ch->head + take, data, more);
  ch->head_len = take + more;
  long_push(ch, ch->pending.data, pending);
  pending_reset(ch);
  long_push(ch, data, len);
}

static void long_drop(channel_t *ch) {
  if (ch->long_parts == NULL) return;
  napi_delete_reference(ch->env, ch->long_parts);
  ch->long_parts = NULL;
  ch->long_count = 0;
  ch->long_bytes = 0;
}

// The long line ends with `data`: it joins the batch as an array of Buffers.
static void long_end(channel_t *ch, const char *data, size_t len) {
  long_push(ch, data, len);
  napi_value parts;
  napi_get_reference_value(ch->env, ch->long_parts, &parts);
  long_drop(ch);
  if (ch->batch == NULL) napi_create_array(ch->env, &ch->batch);
  napi_set_element(ch->env, ch->batch, ch->batch_len++, parts);
}

// An over-long line starts: keep its first bytes (what is pending, then `data`) and its last.
static void start_oversize(channel_t *ch, const char *data, size_t len) {
  size_t pending = ch->pending.len;
  ch->head_len = 0;
  ch->tail_len = 0;
  size_t take = pending < EDGE ? pending : EDGE;
  memcpy(ch->head, ch->pending.data, take);
  ch->head_len = take;
  if (take < EDGE) {
    size_t more = len < EDGE - take ? len : EDGE - take;
    memcpy(ch->head + take, data, more);
    ch->head_len += more;
  }
  if (pending > 0) keep_tail(ch, ch->pending.data, pending);
  keep_tail(ch, data, len);
  pending_reset(ch);
  ch->discarding = 1;
}

static void end_oversize(channel_t *ch) {
  ch->discarding = 0;
  flush_batch(ch);
  if (ch->closed) return;
  napi_value head, tail;
  void *copy;
  napi_create_buffer_copy(ch->env, ch->head_len, ch->head, &copy, &head);
  napi_create_buffer_copy(ch->env, ch->tail_len, ch->tail, &copy, &tail);
  emit_event(ch, "oversize", head, tail);
}

static void split(channel_t *ch, const char *data, size_t len) {
  const char *p = data, *end = data + len;
  while (p < end && !ch->closed) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = (size_t)((nl == NULL ? end : nl) - p);
    size_t pending = ch->pending.len;
    if (ch->discarding) {
      keep_tail(ch, p, n);
      if (nl != NULL) end_oversize(ch);
    } else if (ch->long_parts != NULL && ch->long_bytes + n > ch->max_line) {
      // Its head was kept when it became long; its tail is kept as it is read.
      long_drop(ch);
      keep_tail(ch, p, n);
      ch->discarding = 1;
      if (nl != NULL) end_oversize(ch);
    } else if (pending + n > ch->max_line) {
      start_oversize(ch, p, n);
      if (nl != NULL) end_oversize(ch);
    } else if (ch->long_parts != NULL) {
      if (nl == NULL) long_push(ch, p, n);
      else long_end(ch, p, n);
    } else if (nl == NULL) {
      if (pending + n > ch->buffer_at) long_start(ch, p, n);
      else if (!bytes_append(&ch->pending, p, n)) start_oversize(ch, p, n);
    } else if (pending == 0) {
      add_line(ch, p, n);
    } else if (bytes_append(&ch->pending, p, n)) {
      add_line(ch, ch->pending.data, ch->pending.len);
      pending_reset(ch);
    } else {
      start_oversize(ch, p, n);
      end_oversize(ch);
    }
    if (nl == NULL) break;
    p = nl + 1;
  }
}

static void close_channel(channel_t *ch);

static void on_read(channel_t *ch) {
  int eof = 0, err = 0;
  for (int round = 0; round < READ_ROUNDS && !ch->closed; round++) {
    ssize_t got = read(ch->fd, read_buffer, sizeof read_buffer);
    if (got > 0) {
      split(ch, read_buffer, (size_t)got);
      if ((size_t)got < sizeof read_buffer) break;
    } else if (got == 0) {
      eof = 1;
      break;
    } else if (errno == EINTR) {
      round--;
    } else {
      if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
      break;
    }
  }
  if (!ch->closed) flush_batch(ch);
  if (ch->closed || (!eof && !err)) return;
  ch->reading = 0;
  set_events(ch);
  emit_event(ch, "end", err == 0 ? NULL : errno_text(ch->env, err), NULL);
  // Its owner had ended it and was only waiting for this.
  if (!ch->closed && ch->ending && !ch->writing) close_channel(ch);
}

// After the queue drained on end(): a socket sends its FIN and keeps reading, only to drain its
// input to the end (its owner is done with it), so it no longer keeps the process alive; a
// write-only descriptor (a child's stdin) is closed, which is its reader's end of input.
static void finish_writing(channel_t *ch) {
  ch->writing = 0;
  if (ch->is_socket) shutdown(ch->fd, SHUT_WR);
  if (!ch->reading || !ch->is_socket) {
    close_channel(ch);
    return;
  }
  uv_unref((uv_handle_t *)&ch->poll);
  set_events(ch);
}

static void free_segment(channel_t *ch, segment_t *seg) {
  if (seg->held != NULL) napi_delete_reference(ch->env, seg->held);
  free(seg->iov);
  free(seg->owned.data);
  free(seg);
}

// Drops what is queued (the channel closes).
static void drop_queue(channel_t *ch) {
  while (ch->queue_head != NULL) {
    segment_t *seg = ch->queue_head;
    ch->queue_head = seg->next;
    free_segment(ch, seg);
  }
  ch->queue_tail = NULL;
}

static void push_segment(channel_t *ch, segment_t *seg) {
  if (ch->queue_tail == NULL) ch->queue_head = seg;
  else ch->queue_tail->next = seg;
  ch->queue_tail = seg;
}

// Queues iov[] past its first `skip` bytes as bytes of ours, after what the tail holds.
static int queue_copy(channel_t *ch, const struct iovec *iov, int count, size_t skip) {
  size_t total = 0;
  for (int i = 0; i < count; i++) total += iov[i].iov_len;
  total -= skip;
  segment_t *seg = ch->queue_tail;
  if (seg == NULL || seg->held != NULL) {
    seg = calloc(1, sizeof *seg);
    if (seg == NULL) return -ENOMEM;
    push_segment(ch, seg);
  }
  // Room for all of it first: a message is queued whole or not at all.
  if (!bytes_reserve(&seg->owned, total)) return -ENOMEM;
  for (int i = 0; i < count; i++) {
    size_t len = iov[i].iov_len;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    bytes_append(&seg->owned, (char *)iov[i].iov_base + skip, len - skip);
    skip = 0;
  }
  return 0;
}

// Queues iov[] past its first `skip` bytes as the Buffers of `parts` (a JS array), referenced.
static int queue_held(channel_t *ch, napi_value parts, const struct iovec *iov, int count, size_t skip) {
  segment_t *seg = calloc(1, sizeof *seg);
  struct iovec *copy = malloc(sizeof *copy * (size_t)count);
  if (seg == NULL || copy == NULL) {
    free(seg);
    free(copy);
    return -ENOMEM;
  }
  memcpy(copy, iov, sizeof *copy * (size_t)count);
  while (seg->index < count && skip >= copy[seg->index].iov_len) skip -= copy[seg->index++].iov_len;
  if (seg->index < count) {
    copy[seg->index].iov_base = (char *)copy[seg->index].iov_base + skip;
    copy[seg->index].iov_len -= skip;
  }
  // Our own array of the same Buffers: the caller may change theirs.
  napi_value mine, element;
  uint32_t length;
  napi_create_array(ch->env, &mine);
  napi_get_array_length(ch->env, parts, &length);
  for (uint32_t i = 0; i < length; i++) {
    napi_get_element(ch->env, parts, i, &element);
    napi_set_element(ch->env, mine, i, element);
  }
  napi_create_reference(ch->env, mine, 1, &seg->held);
  seg->iov = copy;
  seg->count = count;
  push_segment(ch, seg);
  return 0;
}

// Writes what is queued; 0, or the errno that broke the descriptor.
static int flush_queue(channel_t *ch) {
  while (ch->queue_head != NULL) {
    segment_t *seg = ch->queue_head;
    ssize_t put;
    if (seg->held == NULL) {
      put = write(ch->fd, seg->owned.data + seg->off, seg->owned.len - seg->off);
    } else {
      int left = seg->count - seg->index;
      put = writev(ch->fd, seg->iov + seg->index, left < IOV_MAX ? left : IOV_MAX);
    }
    if (put < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return errno;
    }
    size_t n = (size_t)put;
    int done;
    if (seg->held == NULL) {
      seg->off += n;
      done = seg->off == seg->owned.len;
    } else {
      while (n > 0 && seg->index < seg->count) {
        struct iovec *part = &seg->iov[seg->index];
        if (n >= part->iov_len) {
          n -= part->iov_len;
          seg->index++;
        } else {
          part->iov_base = (char *)part->iov_base + n;
          part->iov_len -= n;
          n = 0;
        }
      }
      done = seg->index == seg->count;
    }
    if (!done) continue;
    ch->queue_head = seg->next;
    if (ch->queue_head == NULL) ch->queue_tail = NULL;
    free_segment(ch, seg);
  }
  return 0;
}

// The queue could not be written (or was, and end() was waiting for it): as after a writable event.
static void after_flush(channel_t *ch, int err) {
  if (err != 0) {
    // Nothing more can be written; a descriptor that is not also being read is done with.
    ch->writing = 0;
    if (!ch->reading) close_channel(ch);
    else set_events(ch);
    emit_event(ch, "error", errno_text(ch->env, err), NULL);
  } else if (ch->queue_head == NULL && ch->ending) {
    finish_writing(ch);
  } else {
    set_events(ch);
  }
}

static void on_flush(uv_check_t *handle) {
  (void)handle;
  size_t count = dirty_len;
  channel_t **list = dirty_list;
  dirty_list = NULL;
  dirty_len = dirty_cap = 0;
  uv_check_stop(&flush_check);
  uv_idle_stop(&flush_idle);
  napi_env env = count > 0 ? list[0]->env : NULL;
  napi_handle_scope scope;
  if (env != NULL) napi_open_handle_scope(env, &scope);
  for (size_t i = 0; i < count; i++) {
    channel_t *ch = list[i];
    ch->dirty = 0;
    if (!ch->closed && ch->writing) after_flush(ch, flush_queue(ch));
    release(ch);
  }
  if (env != NULL) napi_close_handle_scope(env, scope);
  free(list);
}

static void on_idle(uv_idle_t *handle) { (void)handle; }

// Queues output for the end of this turn; 0, or -ENOMEM.
static int defer(channel_t *ch, struct iovec *iov, int count) {
  int err = queue_copy(ch, iov, count, 0);
  if (err != 0 || ch->dirty) return err;
  if (dirty_len == dirty_cap) {
    size_t cap = dirty_cap == 0 ? 16 : dirty_cap * 2;
    channel_t **grown = realloc(dirty_list, cap * sizeof *grown);
    if (grown == NULL) return -ENOMEM;
    dirty_list = grown;
    dirty_cap = cap;
  }
  if (!flush_ready) {
    uv_loop_t *loop;
    napi_get_uv_event_loop(ch->env, &loop);
    uv_check_init(loop, &flush_check);
    uv_idle_init(loop, &flush_idle);
    // The idle handle, active only while output waits, keeps the loop turning until it is out.
    uv_unref((uv_handle_t *)&flush_check);
    flush_ready = 1;
  }
  if (dirty_len == 0) {
    uv_check_start(&flush_check, on_flush);
    uv_idle_start(&flush_idle, on_idle);
  }
  dirty_list[dirty_len++] = ch;
  ch->dirty = 1;
  ch->holds++;
  return 0;
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  channel_t *ch = handle->data;
  if (ch->closed) return;
  ch->holds++;
  napi_handle_scope scope;
  napi_open_handle_scope(ch->env, &scope);
  if (status < 0) {
    napi_value text;
    napi_create_string_utf8(ch->env, uv_strerror(status), NAPI_AUTO_LENGTH, &text);
    // The descriptor cannot be polled any more: it is done with.
    close_channel(ch);
    emit_event(ch, "error", text, NULL);
  } else {
    if ((events & UV_WRITABLE) && ch->writing && !ch->dirty) after_flush(ch, flush_queue(ch));
    if ((events & UV_READABLE) && ch->reading && !ch->closed) on_read(ch);
  }
  napi_close_handle_scope(ch->env, scope);
  release(ch);
}

static void on_closed(uv_handle_t *handle) {
  channel_t *ch = handle->data;
  napi_delete_reference(ch->env, ch->on_lines);
  napi_delete_reference(ch->env, ch->on_event);
  napi_delete_reference(ch->env, ch->resource);
  napi_async_destroy(ch->env, ch->async);
  release(ch);
}

static void close_channel(channel_t *ch) {
  if (ch->closed) return;
  ch->closed = 1;
  drop_queue(ch);
  long_drop(ch);
  ch->reading = 0;
  ch->writing = 0;
  uv_poll_stop(&ch->poll);
  close(ch->fd);
  uv_close((uv_handle_t *)&ch->poll, on_closed);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  release(data);
}

static channel_t *channel_arg(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_get_cb_info(env, info, argc, argv, NULL, NULL);
  void *data = NULL;
  if (*argc < 1 || napi_get_value_external(env, argv[0], &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "expected a channel");
    return NULL;
  }
  return data;
}

static napi_value number(napi_env env, int value) {
  napi_value result;
  napi_create_int32(env, value, &result);
  return result;
}

// open(fd, onLines(lines), onEvent(kind, a, b)): channel. `fd` is duplicated (its owner may close
// it at once); nothing is read before start().
static napi_value open_channel(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int fd;
  napi_valuetype t1, t2;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 || napi_typeof(env, argv[1], &t1) != napi_ok || t1 != napi_function ||
      napi_typeof(env, argv[2], &t2) != napi_ok || t2 != napi_function) {
    napi_throw_type_error(env, NULL, "open(fd, onLines, onEvent)");
    return NULL;
  }
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) {
    napi_throw_error(env, "LINE_IO_FAILED", strerror(errno));
    return NULL;
  }
  int flags = fcntl(own, F_GETFL);
  fcntl(own, F_SETFL, flags | O_NONBLOCK);
  struct stat st;
  channel_t *ch = calloc(1, sizeof *ch);
  if (ch == NULL) {
    close(own);
    napi_throw_error(env, "LINE_IO_FAILED", "out of memory");
    return NULL;
  }
  ch->env = env;
  ch->fd = own;
  ch->is_socket = fstat(own, &st) == 0 && S_ISSOCK(st.st_mode);
  ch->writing = 1;
  ch->reading = 0;
  ch->max_line = SIZE_MAX;
  ch->buffer_at = SIZE_MAX;
  ch->holds = 2;
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  if (uv_poll_init(loop, &ch->poll, own) != 0) {
    close(own);
    free(ch);
    napi_throw_error(env, "LINE_IO_FAILED", "descriptor cannot be polled");
    return NULL;
  }
  ch->poll.data = ch;
  napi_value external, name;
  napi_create_external(env, ch, finalize, NULL, &external);
  napi_create_reference(env, argv[1], 1, &ch->on_lines);
  napi_create_reference(env, argv[2], 1, &ch->on_event);
  // Held strongly while open, as Node holds an active handle's object: the loop may call it any time.
  napi_create_reference(env, external, 1, &ch->resource);
  napi_create_string_utf8(env, "mcp-gateway:line-io", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, external, name, &ch->async);
  return external;
}

// start(channel, { maxLineBytes, bufferLinesAt }, head?: Buffer): longer lines are reported, not
// delivered; lines of at least bufferLinesAt bytes come as Buffers, shorter ones as strings. Lines
// of `head` (bytes read before the hand-over) are delivered now, then reading begins.
static napi_value start_channel(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  channel_t *ch = channel_arg(env, info, &argc, argv);
  if (ch == NULL || ch->closed || ch->reading) return NULL;
  napi_value value;
  double max_line = 0, buffer_at = 0;
  if (argc > 1 && napi_get_named_property(env, argv[1], "maxLineBytes", &value) == napi_ok) napi_get_value_double(env, value, &max_line);
  if (argc > 1 && napi_get_named_property(env, argv[1], "bufferLinesAt", &value) == napi_ok) napi_get_value_double(env, value, &buffer_at);
  ch->max_line = max_line >= 1 ? (size_t)max_line : SIZE_MAX;
  ch->buffer_at = buffer_at >= 1 ? (size_t)buffer_at : SIZE_MAX;
  void *data;
  size_t len;
  if (argc > 2 && napi_get_buffer_info(env, argv[2], &data, &len) == napi_ok && len > 0) {
    split(ch, data, len);
    if (!ch->closed) flush_batch(ch);
  }
  if (ch->closed) return NULL;
  ch->reading = 1;
  set_events(ch);
  return NULL;
}

// Writes or queues one message; 1, or -errno once the descriptor is broken. With `parts` (the
// JS array the iov points into), a large remainder is queued by reference, not copied.
static int put(channel_t *ch, struct iovec *iov, int count, napi_value parts) {
  size_t total = 0;
  for (int i = 0; i < count; i++) total += iov[i].iov_len;
  size_t written = 0;
  if (ch->queue_head == NULL && !ch->dirty) {
    if (coalesce && total < COALESCE_MAX) {
      int err = defer(ch, iov, count);
      return err == 0 ? 1 : err;
    }
    ssize_t put = -1;
    errno = EAGAIN;
    if (count <= IOV_MAX) {
      do put = writev(ch->fd, iov, count);
      while (put < 0 && errno == EINTR);
    }
    if (put < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      int err = errno;
      ch->writing = 0;
      if (!ch->reading) close_channel(ch);
      return -err;
    }
    if (put >= 0) written = (size_t)put;
    if (written == total) return 1;
  }
  int err = parts != NULL && total - written >= COALESCE_MAX ? queue_held(ch, parts, iov, count, written) : queue_copy(ch, iov, count, written);
  if (err != 0) return err;
  set_events(ch);
  return 1;
}

// The channel of a write call (argv: channel, what to write), or NULL with `*refused` set to 0
// when it no longer takes output (left NULL when an exception is pending).
static channel_t *output_arg(napi_env env, napi_callback_info info, napi_value *argv, napi_value *refused) {
  size_t argc = 2;
  channel_t *ch = channel_arg(env, info, &argc, argv);
  *refused = NULL;
  if (ch == NULL) return NULL;
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "expected a channel and what to write");
    return NULL;
  }
  if (!ch->closed && ch->writing && !ch->ending) return ch;
  *refused = number(env, 0);
  return NULL;
}

// write(channel, text): the text and a newline. 1 written or queued; 0 closed or ending; -errno.
static napi_value write_text(napi_env env, napi_callback_info info) {
  napi_value argv[2], refused;
  channel_t *ch = output_arg(env, info, argv, &refused);
  if (ch == NULL) return refused;
  static char scratch[16384];
  size_t len;
  if (napi_get_value_string_utf8(env, argv[1], NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "write(channel, text)");
    return NULL;
  }
  char *text = len + 2 <= sizeof scratch ? scratch : malloc(len + 2);
  if (text == NULL) return number(env, -ENOMEM);
  napi_get_value_string_utf8(env, argv[1], text, len + 1, &len);
  text[len] = '\n';
  struct iovec iov = {.iov_base = text, .iov_len = len + 1};
  int result = put(ch, &iov, 1, NULL);
  if (text != scratch) free(text);
  return number(env, result);
}

// writeParts(channel, parts: Buffer[]): the parts and a newline, as one message.
static napi_value write_parts(napi_env env, napi_callback_info info) {
  napi_value argv[2], refused;
  channel_t *ch = output_arg(env, info, argv, &refused);
  if (ch == NULL) return refused;
  uint32_t count;
  if (napi_get_array_length(env, argv[1], &count) != napi_ok || count >= INT_MAX - 1) {
    napi_throw_type_error(env, NULL, "writeParts(channel, parts)");
    return NULL;
  }
  struct iovec *iov = malloc(sizeof *iov * (count + 1));
  if (iov == NULL) return number(env, -ENOMEM);
  for (uint32_t i = 0; i < count; i++) {
    napi_value part;
    void *data = NULL;
    size_t len = 0;
    napi_get_element(env, argv[1], i, &part);
    if (napi_get_buffer_info(env, part, &data, &len) != napi_ok) {
      free(iov);
      napi_throw_type_error(env, NULL, "writeParts: every part must be a Buffer");
      return NULL;
    }
    iov[i].iov_base = data;
    iov[i].iov_len = len;
  }
  static char newline = '\n';
  iov[count].iov_base = &newline;
  iov[count].iov_len = 1;
  int result = put(ch, iov, (int)count + 1, argv[1]);
  free(iov);
  return number(env, result);
}

// end(channel): no more output; what is queued is written first.
static napi_value end_channel(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  channel_t *ch = channel_arg(env, info, &argc, argv);
  if (ch == NULL || ch->closed || ch->ending) return NULL;
  ch->ending = 1;
  // A dirty channel finishes once its queue is flushed at the end of the turn.
  if (!ch->dirty && (!ch->writing || ch->queue_head == NULL)) finish_writing(ch);
  return NULL;
}

// close(channel): stops at once; queued output is dropped.
static napi_value destroy_channel(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  channel_t *ch = channel_arg(env, info, &argc, argv);
  if (ch != NULL) close_channel(ch);
  return NULL;
}

// setCoalesce(on): whether writes wait for the end of the loop turn (on by default).
static napi_value set_coalesce(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool on = true;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc > 0) napi_get_value_bool(env, argv[0], &on);
  coalesce = on;
  return NULL;
}

NAPI_MODULE_INIT() {
  const struct {
    const char *name;
    napi_callback fn;
  } exported[] = {{"open", open_channel}, {"start", start_channel}, {"write", write_text}, {"writeParts", write_parts}, {"end", end_channel}, {"close", destroy_channel}, {"setCoalesce", set_coalesce}};
  for (size_t i = 0; i < sizeof exported / sizeof exported[0]; i++) {
    napi_value fn;
    napi_create_function(env, exported[i].name, NAPI_AUTO_LENGTH, exported[i].fn, NULL, &fn);
    napi_set_named_property(env, exports, exported[i].name, fn);
  }
  return exports;
}
