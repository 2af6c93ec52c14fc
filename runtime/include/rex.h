/*
 * rex: a small thread-per-core executor on io_uring whose teardown leaks
 * nothing. Modelled on glommio's LocalExecutor; see docs/design.md §3.
 *
 * Model: a task is a stackless future, a state struct plus a vtable. The
 * executor calls poll() until it returns REX_READY; drop() is the task's
 * destructor and runs exactly once, whether the task completed, was
 * cancelled, or was still parked when its executor was freed.
 *
 * Sub-futures (sleep, channel send/recv, io_uring ops, join) are structs
 * embedded in a task's state: init them, poll them from the task's poll(),
 * and call their drop function from the task's drop().
 *
 * Threads: an executor and its tasks belong to one thread. Wakers (and only
 * wakers, join-handle release and shared-channel ends) may be used from any
 * thread, also after their executor is gone.
 *
 * Errors are negative errno values. Nothing here aborts.
 */
#ifndef REX_H
#define REX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- configuration ---------------------------------------------------- */

enum rex_drop_policy {
	/* Teardown destroys every task, closes the eventfd at once. */
	REX_DROP_FIXED = 0,
	/* glommio issue 448: teardown drops only the run queue; parked tasks
	 * keep the sleep notifier, so its eventfd is never closed. For
	 * reproducing the bug, never for production. */
	REX_DROP_LEGACY_448 = 1,
	/* The investigation's option B, for comparison, never for
	 * production: parked tasks are left as under legacy-448 (never
	 * destroyed, their memory and the notifier's stay), but the eventfd
	 * closes at teardown; foreign wakes that may write it take a mutex
	 * around the optional fd (Rust's Mutex<Option<File>>). */
	REX_DROP_CLOSE_EVENTFD = 2,
	/* The investigation's option C, for comparison, never for
	 * production: tasks hold weak references to the notifier; a foreign
	 * wake upgrades (and does nothing once the executor is gone). Parked
	 * tasks are left as under legacy-448 (never destroyed; their memory
	 * and the notifier's stay); the eventfd closes at teardown (or, if a
	 * wake is in flight then, right after it). */
	REX_DROP_WEAK_NOTIFIER = 3,
	/* glommio issue 448 in glommio 0.6's shape, for reproducing the bug
	 * with its figures, never for production: each executor also holds
	 * what glommio's held (a 10 MiB I/O buffer arena, poll and latency
	 * rings of 128 entries, a blocking thread with its own eventfd and a
	 * 2 MiB stack that holds the notifier). Teardown as legacy-448, and
	 * the blocking thread is never stopped: per executor 2 eventfds, a
	 * thread and its stack stay (docs/design.md §3.9). */
	REX_DROP_GLOMMIO_448 = 4,
	/* The same shape torn down as under fixed, the blocking thread stopped
	 * and joined: nothing stays. */
	REX_DROP_GLOMMIO_FIXED = 5,
	REX_DROP_POLICY_COUNT
};

struct rex_config {
	enum rex_drop_policy policy;
	unsigned ring_entries; /* io_uring SQ size; 0 = default (256); the
				  glommio-* policies use glommio's 128 */
	int cpu;	       /* pin the executor's thread; -1 = no pinning;
				  another negative or a CPU the machine lacks:
				  rex_executor_new fails with -EINVAL */
};

/* Defaults: fixed policy, 256 entries, no pinning. */
void rex_config_init(struct rex_config *cfg);

/* "fixed" / "legacy-448" / "close-eventfd" / "weak-notifier" /
 * "glommio-448" / "glommio-fixed" <-> enum. The
 * name is NULL for a value that is no policy (so 0..REX_DROP_POLICY_COUNT-1
 * lists them all). Parse returns 0 or -EINVAL. */
const char *rex_policy_name(enum rex_drop_policy policy);
int rex_policy_parse(const char *name, enum rex_drop_policy *out);

/* ---- tasks -------------------------------------------------------------- */

typedef struct rex_executor rex_executor;
typedef struct rex_task rex_task;  /* task header; also the join handle */
typedef struct rex_task rex_waker; /* a waker is a counted task reference */

enum rex_poll {
	REX_PENDING = 0,
	REX_READY = 1
};

struct rex_context {
	rex_executor *executor;
	rex_task *task; /* the task being polled */
	int64_t output; /* set by poll() before it returns REX_READY */
};

struct rex_task_vtable {
	const char *name; /* for diagnostics; may be NULL */
	enum rex_poll (*poll)(void *state, struct rex_context *cx);
	void (*drop)(void *state); /* may be NULL */
};

/*
 * Spawn a task on `ex` (the executor the calling thread runs, or one not yet
 * running). `state` (size bytes, may be NULL when size is 0) is copied into
 * the task's own allocation, next to its header. With `handle` non-NULL the
 * caller gets a join handle and must release it with rex_task_detach() or
 * by handing it to rex_join_init().
 *
 * Returns 0, -ENOMEM, or -ECANCELED when the executor is being torn down (in
 * which case drop() already ran on the copied state).
 */
int rex_spawn(rex_executor *ex, const struct rex_task_vtable *vt,
	      const void *state, size_t size, rex_task **handle);

/* Release a join handle; the task goes on running. Any thread. */
void rex_task_detach(rex_task *handle);

/* Cancel: the task is never polled again and its drop() runs now (or, when
 * it cancels itself from poll(), right after that poll returns). Owner
 * thread only; a finished task is left alone. Returns 0, or -EXDEV when
 * called from a thread that is not running the task's executor. */
int rex_task_cancel(rex_task *handle);

/* 1 once the task completed or was cancelled. Any thread. */
int rex_task_is_finished(const rex_task *handle);

/* ---- wakers --------------------------------------------------------------- */

/* The waker of the task being polled; borrowed, valid during poll(). */
rex_waker *rex_context_waker(struct rex_context *cx);
rex_waker *rex_waker_clone(rex_waker *w);
void rex_waker_wake(rex_waker *w);	  /* wake, then drop the waker */
void rex_waker_wake_by_ref(rex_waker *w); /* wake, keep the waker */
void rex_waker_drop(rex_waker *w);

/* ---- executor ------------------------------------------------------------ */

/* Create an executor: its io_uring and its sleep-notifier eventfd (and,
 * under the glommio-* policies, glommio's arena, rings and blocking thread:
 * -ENOMEM when the arena cannot be mapped, -EAGAIN when the thread cannot
 * start). Returns 0
 * or -errno (-EMFILE at the fd limit, -ENOMEM, or what io_uring_setup said).
 * On error nothing is left behind. `cfg` may be NULL for defaults. */
int rex_executor_new(const struct rex_config *cfg, rex_executor **out);

/* Spawn a root task and run the executor on the calling thread until the
 * root task finishes; other tasks may stay parked. `output` (may be NULL)
 * receives the root task's output, or -ECANCELED if it was cancelled.
 * Returns 0 or -errno. May be called again for another root task. */
int rex_executor_run(rex_executor *ex, const struct rex_task_vtable *vt,
		     const void *state, size_t size, int64_t *output);

/* Tear down per the executor's drop policy and free it. Call on the thread
 * that ran it (or any thread once it has stopped running). */
void rex_executor_free(rex_executor *ex);

/* The executor the calling thread is running, or NULL. */
rex_executor *rex_current(void);

struct rex_executor_stats {
	uint64_t tasks_spawned;
	uint64_t tasks_live; /* registered, not finished */
	uint64_t polls;
	uint64_t foreign_wakes; /* wakes received through the notifier */
	uint64_t sleeps;	/* waits in io_uring_enter */
	int eventfd;		/* the notifier's fd, -1 once closed */
	int ring_fd;
};
void rex_executor_stats(const rex_executor *ex, struct rex_executor_stats *st);

/* What teardowns destroyed and what they left behind, summed over every
 * executor freed in this process (any thread, rex_thread's too) since it
 * started; read it before and after a run and subtract. Counted per
 * teardown among the tasks not yet finished when it began (the root of a
 * finished rex_executor_run is not among them) plus any a destructor
 * spawned meanwhile:
 *   tasks_destroyed  their destructors ran (always all of them under fixed)
 *   tasks_left       never destroyed (parked under legacy-448,
 *                    close-eventfd, weak-notifier): they stay allocated
 *   bytes_left       what librex allocated for those: each task's header
 *                    and state (malloc sizes, not what the states point
 *                    to), plus the sleep notifier they keep
 * So destructors run = 100 * destroyed / (destroyed + left) percent. */
struct rex_teardown_totals {
	uint64_t executors_freed;
	uint64_t tasks_destroyed;
	uint64_t tasks_left;
	uint64_t bytes_left;
};
void rex_teardown_totals(struct rex_teardown_totals *out);

/* Run an executor on a new thread (glommio's LocalExecutorBuilder::spawn):
 * the thread creates the executor, runs the root task, frees the executor.
 * rex_thread_join waits, then returns the thread's creation/run error (0 on
 * success) and stores the root's output.
 *
 * Once rex_thread_spawn returned 0 the root state is the thread's: its
 * drop() runs exactly once, also when executor creation fails there (then
 * unpolled), so resources in it (channel ends...) are always released. If
 * rex_thread_spawn fails, the state is still the caller's. */
typedef struct rex_thread rex_thread;
int rex_thread_spawn(const struct rex_config *cfg,
		     const struct rex_task_vtable *vt, const void *state,
		     size_t size, rex_thread **out);
int rex_thread_join(rex_thread *t, int64_t *output);

/* ---- timers ---------------------------------------------------------------- */

uint64_t rex_now_ns(void); /* CLOCK_MONOTONIC */

struct rex_sleep {
	uint64_t deadline_ns;
	size_t heap_index; /* internal: slot in the executor's timer heap */
	rex_executor *ex;  /* internal: non-NULL while registered */
	rex_waker *waker;  /* internal */
};
void rex_sleep_init(struct rex_sleep *s, uint64_t duration_ns);
void rex_sleep_init_deadline(struct rex_sleep *s, uint64_t deadline_ns);
enum rex_poll rex_sleep_poll(struct rex_sleep *s, struct rex_context *cx);
void rex_sleep_drop(struct rex_sleep *s);

/* Yield once: ready on the second poll (wakes itself on the first). */
struct rex_yield {
	int yielded;
};
enum rex_poll rex_yield_poll(struct rex_yield *y, struct rex_context *cx);

/* ---- join --------------------------------------------------------------------- */

/* Await another task of the same executor; consumes the handle. Output:
 * the task's output, or -ECANCELED if it was cancelled. */
struct rex_join {
	rex_task *task;
};
void rex_join_init(struct rex_join *j, rex_task *handle);
enum rex_poll rex_join_poll(struct rex_join *j, struct rex_context *cx,
			    int64_t *output);
void rex_join_drop(struct rex_join *j);

/* ---- local channel (one executor, one sender, one receiver) ---------------- */

typedef struct rex_chan rex_chan;
/* Bounded; items are elem_size bytes, copied in and out. Each end is
 * released with rex_chan_close_tx/rx; the channel is freed with the last.
 * Closing one end wakes the other, which then sees -EPIPE. */
int rex_chan_new(size_t elem_size, size_t capacity, rex_chan **out);
void rex_chan_close_tx(rex_chan *ch);
void rex_chan_close_rx(rex_chan *ch);

struct rex_chan_op {
	rex_chan *ch;
	void *item;  /* send: copied from here; recv: copied to here */
	int waiting; /* internal */
};
void rex_chan_op_init(struct rex_chan_op *op, rex_chan *ch, void *item);
/* READY with *result 0, or -EPIPE when the other end is closed (for recv:
 * closed and empty). */
enum rex_poll rex_chan_send_poll(struct rex_chan_op *op, struct rex_context *cx,
				 int *result);
enum rex_poll rex_chan_recv_poll(struct rex_chan_op *op, struct rex_context *cx,
				 int *result);
void rex_chan_op_drop(struct rex_chan_op *op);

/* ---- shared channel (SPSC between executors on different threads) ---------- */

typedef struct rex_shared_tx rex_shared_tx;
typedef struct rex_shared_rx rex_shared_rx;
/* Create unconnected ends; hand each to its thread. capacity is rounded up
 * to a power of two. */
int rex_shared_chan_new(size_t elem_size, size_t capacity, rex_shared_tx **tx,
			rex_shared_rx **rx);
/* Bind an end to the calling thread's executor (rex_current()). Returns 0,
 * -EINVAL when no executor runs here, -EALREADY when already connected. */
int rex_shared_tx_connect(rex_shared_tx *tx);
int rex_shared_rx_connect(rex_shared_rx *rx);
/* Drop an end (any thread; connected or not). The peer is woken and sees
 * -EPIPE. */
void rex_shared_tx_close(rex_shared_tx *tx);
void rex_shared_rx_close(rex_shared_rx *rx);

struct rex_shared_send {
	rex_shared_tx *tx;
	const void *item;
	int waiting;
};
struct rex_shared_recv {
	rex_shared_rx *rx;
	void *item;
	int waiting;
};
void rex_shared_send_init(struct rex_shared_send *op, rex_shared_tx *tx,
			  const void *item);
enum rex_poll rex_shared_send_poll(struct rex_shared_send *op,
				   struct rex_context *cx, int *result);
void rex_shared_send_drop(struct rex_shared_send *op);
void rex_shared_recv_init(struct rex_shared_recv *op, rex_shared_rx *rx,
			  void *item);
enum rex_poll rex_shared_recv_poll(struct rex_shared_recv *op,
				   struct rex_context *cx, int *result);
void rex_shared_recv_drop(struct rex_shared_recv *op);

/* ---- io_uring operations -------------------------------------------------------- */

/*
 * One io_uring operation. The kernel-facing part (request, and the buffer
 * for read/write, the path for openat) is owned by the executor, not by the
 * future, so dropping the future while the op is in flight is safe: the op
 * is cancelled and its memory freed when its completion is reaped; an fd an
 * abandoned openat returns is closed.
 *
 * Poll returns READY with *result = the syscall's result (>= 0) or -errno.
 */
struct rex_io_request;
struct rex_io {
	struct rex_io_request *req; /* internal */
	int kind;		    /* internal */
	int fd;
	int64_t offset;
	size_t len;
	const void *src;  /* write: copied into the request */
	const char *path; /* openat: copied into the request */
	int flags;
	mode_t mode;
};
void rex_io_read_init(struct rex_io *io, int fd, size_t len, int64_t offset);
void rex_io_write_init(struct rex_io *io, int fd, const void *buf, size_t len,
		       int64_t offset);
void rex_io_openat_init(struct rex_io *io, int dirfd, const char *path,
			int flags, mode_t mode);
void rex_io_close_init(struct rex_io *io, int fd);
enum rex_poll rex_io_poll(struct rex_io *io, struct rex_context *cx,
			  int *result);
/* After a read completed: the bytes read (valid until rex_io_drop). */
const void *rex_io_read_data(const struct rex_io *io);
void rex_io_drop(struct rex_io *io);

#ifdef __cplusplus
}
#endif
#endif /* REX_H */
