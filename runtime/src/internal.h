/* Internal structures of librex, shared by its source files only. */
#ifndef REX_INTERNAL_H
#define REX_INTERNAL_H

#include <liburing.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fault.h"
#include "rex.h"

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr)-offsetof(type, member)))

/* ---- task state word ------------------------------------------------------
 * Low bits are flags, the rest a reference count. One word so that "is it
 * still alive, and may I queue it?" is a single compare-and-swap from any
 * thread. References are held by: the registry (until the task finishes),
 * a queue entry (while SCHEDULED, and during the poll that pops it), each
 * waker, and the join handle.
 */
#define TASK_SCHEDULED (1u << 0) /* in the run queue or the notifier queue */
#define TASK_RUNNING   (1u << 1) /* poll() is on the stack */
#define TASK_COMPLETED (1u << 2) /* poll() returned READY; output is valid */
#define TASK_CLOSED    (1u << 3) /* cancelled or torn down */
#define TASK_REF_SHIFT 8
#define TASK_REF_ONE   ((uint64_t)1 << TASK_REF_SHIFT)
#define TASK_FINISHED  (TASK_COMPLETED | TASK_CLOSED)

struct rex_mpsc_node {
	_Atomic(struct rex_mpsc_node *) next;
};

struct rex_notifier;

struct rex_task {
	_Atomic uint64_t state;
	const struct rex_task_vtable *vt;
	rex_executor *ex; /* never dereferenced once CLOSED */
	uint64_t ex_id;	  /* compared with the thread's, never reused */
	struct rex_notifier *notifier; /* counted: outlives the executor */
	struct rex_task *run_next;     /* run queue link, owner thread */
	struct rex_mpsc_node foreign;  /* notifier queue link, any thread */
	struct rex_task *reg_prev, *reg_next; /* registry, owner thread */
	rex_waker *join_waker;		      /* the task awaiting this one */
	int64_t output;
	size_t state_size; /* data[]'s bytes, for teardown totals */
	alignas(max_align_t) unsigned char data[];
};

/* ---- sleep notifier ----------------------------------------------------
 * The eventfd, the should-notify flag, the queue of wakes from other
 * threads, and what keeps a foreign waker off a closed eventfd. That guard
 * depends on the drop policy (docs/design.md §3.3, §3.6, §3.7):
 *  - fixed, legacy-448: the close fence (bit 0 closed, +2 per foreign waker
 *    inside); legacy-448 never closes it;
 *  - close-eventfd (option B): efd_lock, a mutex around the optional fd
 *    (Rust's Mutex<Option<File>>);
 *  - weak-notifier (option C): the strong count; a waker upgrades its
 *    task's weak reference for the wake, and the eventfd closes when the
 *    strong count reaches 0.
 * `refs` keeps the memory: the executor's reference and every task
 * header's (under weak-notifier it is the weak count: task headers plus one
 * shared by all strong references, as in Rust's Arc).
 */
struct rex_notifier {
	_Atomic uint64_t refs;
	_Atomic uint64_t fence;
	_Atomic int should_notify;
	enum rex_drop_policy policy; /* picks the guard of a foreign wake */
	int efd;
	_Atomic(struct rex_mpsc_node *) head; /* producers push here */
	struct rex_mpsc_node *tail;	      /* consumer pops here */
	struct rex_mpsc_node stub;
	pthread_mutex_t efd_lock; /* close-eventfd: guards efd */
	_Atomic uint64_t strong; /* weak-notifier: executor + upgraded wakers */
};

int rex_notifier_new(enum rex_drop_policy policy, struct rex_notifier **out);
void rex_notifier_ref(struct rex_notifier *n);
void rex_notifier_unref(struct rex_notifier *n);
/* Foreign wake of t (SCHEDULED not yet set), guarded per policy. */
void rex_notifier_wake(struct rex_notifier *n, rex_task *t);
/* Owner side. */
rex_task *rex_notifier_pop(struct rex_notifier *n);
bool rex_notifier_empty(struct rex_notifier *n);
/* Closing the eventfd, one per guard: */
void rex_notifier_close(struct rex_notifier *n);	  /* fixed: the fence */
void rex_notifier_close_eventfd(struct rex_notifier *n);  /* B: the mutex */
void rex_notifier_release_strong(struct rex_notifier *n); /* C: strong count */

/* ---- io requests ---------------------------------------------------------- */
enum rex_io_kind {
	REX_IO_NONE = 0,
	REX_IO_READ,
	REX_IO_WRITE,
	REX_IO_OPENAT,
	REX_IO_CLOSE,
	REX_IO_NOTIFY, /* the executor's own read of its eventfd */
};

/* cancel SQEs carry this user_data; their completions are ignored */
#define REX_UD_IGNORE ((uint64_t)1)

struct rex_io_request {
	struct rex_io_request *prev, *next; /* executor's in-flight list */
	rex_executor *ex;
	struct rex_io *owner; /* NULL once the future is gone (orphan) */
	rex_waker *waker;
	int kind;
	int res;
	bool done;
	bool cancel_sent;
	size_t len;
	alignas(max_align_t) unsigned char buf[]; /* read/write data, path */
};

/* ---- executor ---------------------------------------------------------------- */
struct rex_timer_heap {
	struct rex_sleep **items;
	size_t len, cap;
};

/* ---- glommio's shape (glommio.c, docs/design.md §3.9) ---------------------
 * glommio 0.6's defaults: io_memory 10 << 20 (executor/mod.rs), ring depth
 * 128 (sys/uring.rs), Rust's default thread stack (2 MiB), the blocking
 * thread's two ArrayQueues of 1024 slots (sys/blocking.rs), a slot being
 * crossbeam's stamp + BlockingThreadReq (64 bytes) or BlockingThreadResp
 * (24 bytes). */
#define REX_GLOMMIO_IO_MEMORY	  ((size_t)10 << 20)
#define REX_GLOMMIO_RING_DEPTH	  128u
#define REX_GLOMMIO_THREAD_STACK  ((size_t)2 << 20)
#define REX_GLOMMIO_QUEUE_SLOTS	  1024u
#define REX_GLOMMIO_REQUEST_SLOT  72u
#define REX_GLOMMIO_RESPONSE_SLOT 32u

struct rex_blocking_thread;

struct rex_glommio {
	void *arena; /* the I/O buffer memory, NULL once unmapped */
	bool buffers_registered;
	struct io_uring poll_ring, latency_ring;
	struct rex_blocking_thread *blocking;
};

static inline bool rex_policy_glommio(enum rex_drop_policy p)
{
	return p == REX_DROP_GLOMMIO_448 || p == REX_DROP_GLOMMIO_FIXED;
}

struct rex_executor {
	uint64_t id;
	struct rex_config cfg;
	struct io_uring ring;
	struct rex_notifier *notifier;
	bool running;
	bool closing;

	struct rex_task *run_head, *run_tail; /* FIFO of SCHEDULED tasks */
	struct rex_task *reg_head;	      /* every unfinished task */

	struct rex_timer_heap timers;

	struct rex_io_request inflight; /* list sentinel */
	size_t inflight_count;
	struct rex_io_request *notify_req;
	bool notify_armed;

	struct rex_executor_stats stats;
	struct rex_glommio glommio; /* glommio-448, glommio-fixed only */
	size_t glommio_bytes_left; /* glommio-448: what teardown left */
};

/* The executor this thread runs (or tears down); alive while set. Tasks
 * are matched by id, never by address: a zombie's executor may be gone and
 * its address reused by a new one. */
extern _Thread_local rex_executor *rex_tls_ex;

static inline bool rex_on_owner(const rex_task *t)
{
	return rex_tls_ex && rex_tls_ex->id == t->ex_id;
}

/* Ring memory is mapped and unmapped by raw syscalls, so a sanitizer does
 * not see a new ring reuse a freed ring's addresses. Every ring exit
 * publishes to, and every ring init reads, this counter: a real
 * happens-before edge from all earlier teardowns to the new ring. */
extern _Atomic uint64_t rex_ring_generation;

/* task.c */
void rex_task_release(rex_task *t);
/* Give up a run-queue entry without polling it: clear SCHEDULED, drop the
 * entry's reference. */
void rex_task_unqueue(rex_task *t);
void rex_task_run(rex_executor *ex, rex_task *t);
void rex_task_close(rex_task *t); /* set CLOSED, drop state (owner) */
void rex_run_queue_push(rex_executor *ex, rex_task *t);
rex_task *rex_run_queue_pop(rex_executor *ex);

/* timer.c */
void rex_timers_fire(rex_executor *ex, uint64_t now);
uint64_t rex_timers_next(const rex_executor *ex); /* UINT64_MAX if none */
void rex_timers_drain(rex_executor *ex);
void rex_timers_free(rex_executor *ex);

/* io.c */
struct io_uring_sqe *rex_io_get_sqe(rex_executor *ex);
int rex_io_reap(rex_executor *ex);
int rex_io_submit(rex_executor *ex);
void rex_io_arm_notify(rex_executor *ex);
void rex_io_teardown(rex_executor *ex);

/* glommio.c: after the main ring; on failure the arena stays for the
 * caller to free with rex_glommio_free_arena() after exiting that ring. */
int rex_glommio_new(rex_executor *ex);
void rex_glommio_free_arena(rex_executor *ex);
void rex_glommio_free_reactor(rex_executor *ex); /* after rex_io_teardown */
void rex_glommio_stop_blocking(rex_executor *ex);
size_t rex_glommio_leave_blocking(rex_executor *ex); /* bytes left */

#endif
