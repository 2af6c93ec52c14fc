/*
 * The scenario runner's insides, shared by runner.c (the root task, the
 * iteration, the foreign-waker thread), tasks.c (the kinds of parked task)
 * and issue448.c (the executor pairs of the original reproduction). The
 * public API is exs_runner_* in exstress.h.
 *
 * Lifetimes: struct exs_exec and struct exs_pair belong to the runner and
 * outlive the iteration's threads, so tasks and destructors may point at
 * them. Only the executor's thread touches its exs_exec while the iteration
 * runs; the main thread reads it after rex_thread_join.
 */
#ifndef EXS_RUNNER_H
#define EXS_RUNNER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "exstress.h"
#include "rex.h"

#define FAR_NS		(3600ull * 1000000000ull) /* "never" for a parked timer */
#define ROOT_TIMEOUT_NS (5ull * 1000000000ull)
#define CHAN_CAP	8 /* issue448: so the sender ends blocked on a full one */
#define CONSUME \
	CHAN_CAP /* issue448: messages the receiver takes, then stops
			  * (the sender then fills the channel and blocks) */
#define SPAWN_IN_DROP_DEPTH 3 /* spawn-in-drop: destructors spawn this deep */

enum task_kind {
	K_TIMER,      /* parked on a far timer */
	K_PIPE_READ,  /* io_uring read of a pipe nobody writes */
	K_OPEN_FIFO,  /* io_uring openat of a FIFO with no writer: blocks */
	K_OPEN_LATE,  /* openat /dev/null submitted right before teardown */
	K_JOIN,	      /* unit: a sleeper, a joiner of it, a joiner of that */
	K_FOREIGN,    /* waker handed to the waker thread */
	K_SPAWN_DROP, /* unit: victim, waker donor, destructor that spawns,
			 cancels and wakes */
	K_FOREVER,    /* PENDING with no waker kept anywhere */
	K_NKINDS
};

enum role {
	ROLE_NONE,
	ROLE_SENDER,
	ROLE_RECEIVER
};

/* Where the two roots of a pair wait for each other (issue448.c). */
struct meeting {
	atomic_int arrived;
	_Atomic(rex_waker *) waiting[2]; /* by role: the root parked here */
};

struct exs_pair {
	unsigned m;
	/* Each end is owned by the pair until a root moves it into a task
	 * (then NULL here). The sender side owns data_tx, to_recv_tx[], to_send_rx[]; the
	 * receiver side data_rx, to_recv_rx[], to_send_tx[]. */
	rex_shared_tx *data_tx;
	rex_shared_rx *data_rx;
	rex_shared_tx **to_recv_tx;
	rex_shared_rx **to_recv_rx;
	rex_shared_tx **to_send_tx;
	rex_shared_rx **to_send_rx;
	atomic_int recv_done;	  /* receiver consumed CONSUME */
	struct meeting parked;	  /* both roots saw their side all parked */
	struct meeting cancelled; /* job mode: both jobs cancelled theirs */
	_Atomic(rex_waker *)
		sender_root_waker; /* sender root, woken cross-thread */
};

struct exs_exec {
	struct exs_runner *r;
	unsigned index;
	rex_executor *ex;
	enum role role;
	struct exs_pair *pair;
	unsigned plan[K_NKINDS];
	unsigned expected, settled;
	rex_waker *root_waker;
	uint64_t parked_at_exit;
	int err;
	char what[96];
	/* issue448 */
	unsigned consumed;
	int consumer_done, sender_blocked, sender_done;
	/* spawn-in-drop: waker donors' slots */
	rex_waker **slots;
	unsigned nslots;
	/* workaround scenarios: the executor outlives the job, so the job
	 * cancels what it parked (join handles kept here) before it ends */
	int job_mode;
	rex_task **job_tasks;
	unsigned njob_tasks, job_cap;
};

struct exs_runner {
	struct exs_runner_config cfg;
	struct rex_config rcfg;
	int pipe_rd, pipe_wr;
	char dir[64];
	char fifo[96];
	struct exs_exec *x;
	struct exs_pair *pairs;
	unsigned npairs;
	rex_thread **threads;
	uint64_t parked;
	/* the foreign-waker thread */
	pthread_t wt;
	int wt_inited, wt_started;
	pthread_mutex_t mu;
	pthread_cond_t cv, done_cv;
	rex_waker **q;
	size_t qn, qcap;
	int flush_req, flush_done, stop;
	int posted; /* a waker was posted since the last flush */
	/* workaround scenarios: a thread per executor, kept for the run */
	struct worker *workers;
	int workers_thread_local;
};

struct parked_task {
	struct exs_exec *x;
	int counted;
	int started;
	union {
		struct rex_sleep sleep;
		struct rex_io io;
		struct rex_join join;
		struct {
			struct rex_sleep sleep;
			rex_task *victim; /* join handle, may be NULL */
			int slot;	  /* donor slot to wake, -1 none */
			unsigned depth;
		} spawn_in_drop;
		struct {
			struct rex_sleep sleep;
			int slot;
		} donor;
	} u;
};

/* tasks.c */
void set_err(struct exs_exec *x, int err, const char *what);
void settle(struct exs_exec *x, int *counted);
/* Spawn the executor's planned parked tasks (x->plan). 0 or -errno. */
int start_plan(struct exs_exec *x);
/* The opens submitted right before teardown (K_OPEN_LATE). */
int start_late_opens(struct exs_exec *x);

/* issue448.c */
/* This executor's side of its pair: the sender or the consumer, and its
 * parked cross receivers. 0 or -errno. */
int start_pair(struct exs_exec *x);
int pair_setup(struct exs_pair *pr);
void pair_release(struct exs_pair *pr);
void pair_close_side(struct exs_exec *x);
enum rex_poll pair_end_job(struct exs_exec *x, struct rex_context *cx,
			   int *cancelled);
/* Arrive at m (once: *arrived) and wait for the peer root there; READY
 * once both arrived. cx NULL: arrive only (a root that ends early). */
enum rex_poll pair_meet(struct exs_exec *x, struct meeting *m,
			struct rex_context *cx, int *arrived);

/* waker.c: the foreign-waker thread. post: from an executor thread;
 * flush: from the main thread once the executors are gone. */
int waker_start(struct exs_runner *r);
void waker_stop(struct exs_runner *r);
int waker_post(struct exs_runner *r, rex_waker *w);
void waker_flush(struct exs_runner *r);

/* workers.c: the workaround scenarios' threads and executors. Runs one
 * job (the root task) on each of the runner's K executors; 0 or -errno
 * with *what set. */
int workers_run_jobs(struct exs_runner *r, int thread_local,
		     const struct rex_task_vtable *root_vt, size_t root_size,
		     void (*root_init)(void *root, struct exs_exec *x),
		     const char **what);
void workers_stop(struct exs_runner *r);

#endif
