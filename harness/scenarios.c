/*
 * Scenarios: one iteration creates K executors on their own threads
 * (rex_thread_spawn), parks tasks in them in every way the runtime allows,
 * lets the root tasks finish (so each executor is freed with tasks still
 * parked), and joins the threads.
 *
 * Lifetimes: struct exs_exec and struct exs_pair belong to the runner and
 * outlive the iteration's threads, so tasks and destructors may point at
 * them. Only the executor's thread touches its exs_exec while the iteration
 * runs; the main thread reads it after rex_thread_join.
 */
#include "exstress.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rex.h"

#define FAR_NS (3600ull * 1000000000ull)   /* "never" for a parked timer */
#define ROOT_TIMEOUT_NS (5ull * 1000000000ull)
#define CONSUME 16      /* issue448: messages the receiver takes, then stops */
#define CHAN_CAP 8      /* issue448: so the sender ends blocked on a full one */
#define SID_DEPTH 3     /* spawn-in-drop: destructors spawn this deep */

enum task_kind {
	K_TIMER,      /* parked on a far timer */
	K_PIPE_READ,  /* io_uring read of a pipe nobody writes */
	K_OPEN_FIFO,  /* io_uring openat of a FIFO with no writer: blocks */
	K_OPEN_LATE,  /* openat /dev/null submitted right before teardown */
	K_JOIN,       /* unit: a sleeper, a joiner of it, a joiner of that */
	K_FOREIGN,    /* waker handed to the waker thread */
	K_SPAWN_DROP, /* unit: victim, waker donor, destructor that spawns,
			 cancels and wakes */
	K_FOREVER,    /* PENDING with no waker kept anywhere */
	K_NKINDS
};

enum role { ROLE_NONE, ROLE_SENDER, ROLE_RECEIVER };

struct exs_pair {
	unsigned m;
	/* Each end is owned by the pair until a root moves it into a task
	 * (then NULL here). The sender side owns a_tx, b_tx[], d_rx[]; the
	 * receiver side a_rx, b_rx[], d_tx[]. */
	rex_shared_tx *a_tx;
	rex_shared_rx *a_rx;
	rex_shared_tx **b_tx;
	rex_shared_rx **b_rx;
	rex_shared_tx **d_tx;
	rex_shared_rx **d_rx;
	atomic_int recv_done;               /* receiver consumed CONSUME */
	_Atomic(rex_waker *) s_root_waker;  /* sender root, woken cross-thread */
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
	int wt_started;
	pthread_mutex_t mu;
	pthread_cond_t cv, done_cv;
	rex_waker **q;
	size_t qn, qcap;
	int flush_req, flush_done, stop;
	int wt_oom;
};

/* ---- foreign-waker thread ---------------------------------------------------- */

/* Runs beside the executors: wakes each waker it gets at once (a foreign
 * wake racing the executor's teardown), keeps it, and on flush (after the
 * executors are gone) wakes and drops them all. */
static void *waker_thread(void *arg)
{
	struct exs_runner *r = arg;
	size_t heldcap = 64, nheld = 0;
	/* Allocated now: this thread's malloc arena exists before the
	 * baseline sample. */
	rex_waker **held = malloc(heldcap * sizeof(*held)), **batch = NULL;
	if (!held)
		heldcap = 0;

	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->qn && !r->flush_req && !r->stop)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->stop && !r->qn && !r->flush_req)
			break;
		size_t n = r->qn;
		batch = r->q;
		r->q = NULL;
		r->qn = r->qcap = 0;
		int flush = r->flush_req;
		pthread_mutex_unlock(&r->mu);

		for (size_t i = 0; i < n; i++) {
			rex_waker_wake_by_ref(batch[i]);
			if (nheld == heldcap) {
				size_t nc = heldcap ? heldcap * 2 : 64;
				rex_waker **nh = realloc(held, nc * sizeof(*nh));
				if (!nh) { /* keep going: wake and drop now */
					rex_waker_wake(batch[i]);
					continue;
				}
				held = nh;
				heldcap = nc;
			}
			held[nheld++] = batch[i];
		}
		free(batch);
		batch = NULL;
		if (flush) {
			for (size_t i = 0; i < nheld; i++)
				rex_waker_wake(held[i]);
			nheld = 0;
		}
		pthread_mutex_lock(&r->mu);
		if (flush) {
			r->flush_req = 0;
			r->flush_done = 1;
			pthread_cond_broadcast(&r->done_cv);
		}
	}
	pthread_mutex_unlock(&r->mu);
	for (size_t i = 0; i < nheld; i++)
		rex_waker_wake(held[i]);
	free(held);
	return NULL;
}

/* Executor thread: hand a waker over. */
static int waker_post(struct exs_runner *r, rex_waker *w)
{
	pthread_mutex_lock(&r->mu);
	if (r->qn == r->qcap) {
		size_t nc = r->qcap ? r->qcap * 2 : 16;
		rex_waker **nq = realloc(r->q, nc * sizeof(*nq));
		if (!nq) {
			pthread_mutex_unlock(&r->mu);
			return -ENOMEM;
		}
		r->q = nq;
		r->qcap = nc;
	}
	r->q[r->qn++] = w;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return 0;
}

/* Main thread, after the executors are joined. */
static void waker_flush(struct exs_runner *r)
{
	pthread_mutex_lock(&r->mu);
	r->flush_req = 1;
	r->flush_done = 0;
	pthread_cond_signal(&r->cv);
	while (!r->flush_done)
		pthread_cond_wait(&r->done_cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
}

/* ---- helpers --------------------------------------------------------------------- */

static void set_err(struct exs_exec *x, int err, const char *what)
{
	if (x->err)
		return;
	x->err = err;
	snprintf(x->what, sizeof(x->what), "%s", what);
}

/* A task reached its parked state (or finished before it could): tell the
 * root, which waits for all of them before it lets the executor go. */
static void settle(struct exs_exec *x, int *counted)
{
	if (*counted)
		return;
	*counted = 1;
	x->settled++;
	if (x->settled >= x->expected && x->root_waker)
		rex_waker_wake_by_ref(x->root_waker);
}

/* ---- task kinds -------------------------------------------------------------------- */

struct ptask {
	struct exs_exec *x;
	int counted;
	int started;
	union {
		struct rex_sleep sleep;
		struct rex_io io;
		struct rex_join join;
		struct {
			struct rex_sleep sleep;
			rex_task *victim;  /* join handle, may be NULL */
			int slot;          /* donor slot to wake, -1 none */
			unsigned depth;
		} sid;
		struct {
			struct rex_sleep sleep;
			int slot;
		} donor;
	} u;
};

static enum rex_poll timer_poll(void *p, struct rex_context *cx)
{
	struct ptask *t = p;
	if (!t->started) {
		rex_sleep_init(&t->u.sleep, FAR_NS);
		t->started = 1;
	}
	enum rex_poll r = rex_sleep_poll(&t->u.sleep, cx);
	settle(t->x, &t->counted);
	return r;
}

static void timer_drop(void *p)
{
	struct ptask *t = p;
	if (t->started)
		rex_sleep_drop(&t->u.sleep);
}

static const struct rex_task_vtable timer_vt = { "exs-timer", timer_poll, timer_drop };

/* io kinds: the fd or path comes from the runner. */
static enum rex_poll io_poll(void *p, struct rex_context *cx, int kind)
{
	struct ptask *t = p;
	struct exs_runner *r = t->x->r;
	if (!t->started) {
		if (kind == K_PIPE_READ)
			rex_io_read_init(&t->u.io, r->pipe_rd, 64, -1);
		else if (kind == K_OPEN_FIFO)
			rex_io_openat_init(&t->u.io, AT_FDCWD, r->fifo, O_RDONLY, 0);
		else
			rex_io_openat_init(&t->u.io, AT_FDCWD, "/dev/null", O_RDONLY, 0);
		t->started = 1;
	}
	int res;
	enum rex_poll rp = rex_io_poll(&t->u.io, cx, &res);
	settle(t->x, &t->counted);
	if (rp == REX_READY) {
		/* An open that completed while we still ran: ours to close. */
		if (kind != K_PIPE_READ && res >= 0)
			close(res);
		cx->output = res < 0 ? res : 0;
	}
	return rp;
}

static enum rex_poll pipe_read_poll(void *p, struct rex_context *cx)
{
	return io_poll(p, cx, K_PIPE_READ);
}

static enum rex_poll open_fifo_poll(void *p, struct rex_context *cx)
{
	return io_poll(p, cx, K_OPEN_FIFO);
}

static enum rex_poll open_late_poll(void *p, struct rex_context *cx)
{
	return io_poll(p, cx, K_OPEN_LATE);
}

static void io_drop(void *p)
{
	struct ptask *t = p;
	if (t->started)
		rex_io_drop(&t->u.io);
}

static const struct rex_task_vtable pipe_read_vt = { "exs-pipe-read", pipe_read_poll, io_drop };
static const struct rex_task_vtable open_fifo_vt = { "exs-open-fifo", open_fifo_poll, io_drop };
static const struct rex_task_vtable open_late_vt = { "exs-open-late", open_late_poll, io_drop };

/* Joiner: u.join was initialised with the handle before spawn. */
static enum rex_poll join_poll(void *p, struct rex_context *cx)
{
	struct ptask *t = p;
	int64_t out;
	enum rex_poll r = rex_join_poll(&t->u.join, cx, &out);
	settle(t->x, &t->counted);
	if (r == REX_READY)
		cx->output = out;
	return r;
}

static void join_drop(void *p)
{
	struct ptask *t = p;
	rex_join_drop(&t->u.join);
}

static const struct rex_task_vtable join_vt = { "exs-join", join_poll, join_drop };

static enum rex_poll foreign_poll(void *p, struct rex_context *cx)
{
	struct ptask *t = p;
	if (!t->started) {
		t->started = 1;
		rex_waker *w = rex_waker_clone(rex_context_waker(cx));
		if (waker_post(t->x->r, w) != 0) {
			rex_waker_drop(w);
			set_err(t->x, -ENOMEM, "handing a waker to the waker thread");
		}
	}
	/* Woken by the other thread: stay parked. */
	settle(t->x, &t->counted);
	return REX_PENDING;
}

static const struct rex_task_vtable foreign_vt = { "exs-foreign", foreign_poll, NULL };

static enum rex_poll forever_poll(void *p, struct rex_context *cx)
{
	struct ptask *t = p;
	(void)cx;
	settle(t->x, &t->counted);
	return REX_PENDING;
}

static const struct rex_task_vtable forever_vt = { "exs-forever", forever_poll, NULL };

/* Waker donor: parks on a timer, leaves a waker clone in its slot. */
static enum rex_poll donor_poll(void *p, struct rex_context *cx)
{
	struct ptask *t = p;
	if (!t->started) {
		t->started = 1;
		rex_sleep_init(&t->u.donor.sleep, FAR_NS);
		struct exs_exec *x = t->x;
		if (t->u.donor.slot >= 0 && !x->slots[t->u.donor.slot])
			x->slots[t->u.donor.slot] =
				rex_waker_clone(rex_context_waker(cx));
	}
	enum rex_poll r = rex_sleep_poll(&t->u.donor.sleep, cx);
	settle(t->x, &t->counted);
	return r;
}

static void donor_drop(void *p)
{
	struct ptask *t = p;
	if (t->started)
		rex_sleep_drop(&t->u.donor.sleep);
}

static const struct rex_task_vtable donor_vt = { "exs-donor", donor_poll, donor_drop };

static const struct rex_task_vtable sid_vt;

static enum rex_poll sid_poll(void *p, struct rex_context *cx)
{
	struct ptask *t = p;
	if (!t->started) {
		t->started = 1;
		rex_sleep_init(&t->u.sid.sleep, FAR_NS);
	}
	enum rex_poll r = rex_sleep_poll(&t->u.sid.sleep, cx);
	settle(t->x, &t->counted);
	return r;
}

/* The destructor that works against teardown: it spawns (a task whose own
 * destructor spawns again), cancels and releases a sibling, and wakes
 * another. During teardown the spawns must be refused (-ECANCELED) with
 * their destructors run, or teardown would never end. */
static void sid_drop(void *p)
{
	struct ptask *t = p;
	struct exs_exec *x = t->x;
	if (t->started)
		rex_sleep_drop(&t->u.sid.sleep);
	if (t->u.sid.depth < SID_DEPTH && x->ex) {
		struct ptask child = { .x = x };
		child.u.sid.slot = -1;
		child.u.sid.depth = t->u.sid.depth + 1;
		/* 0 (normal completion) or -ECANCELED (teardown) are both
		 * fine; the child counts toward nothing. */
		child.counted = 1;
		(void)rex_spawn(x->ex, &sid_vt, &child, sizeof(child), NULL);
	}
	if (t->u.sid.victim) {
		(void)rex_task_cancel(t->u.sid.victim);
		rex_task_detach(t->u.sid.victim);
		t->u.sid.victim = NULL;
	}
	if (t->u.sid.slot >= 0) {
		rex_waker *w = x->slots[t->u.sid.slot];
		x->slots[t->u.sid.slot] = NULL;
		if (w)
			rex_waker_wake(w);
	}
}

static const struct rex_task_vtable sid_vt = { "exs-spawn-in-drop", sid_poll, sid_drop };

/* ---- issue448 tasks ---------------------------------------------------------------- */

struct sender {
	struct exs_exec *x;
	rex_shared_tx *tx;
	struct rex_shared_send op;
	uint64_t item;
	int sending;
};

static enum rex_poll sender_poll(void *p, struct rex_context *cx)
{
	struct sender *s = p;
	struct exs_exec *x = s->x;
	for (;;) {
		if (!s->sending) {
			rex_shared_send_init(&s->op, s->tx, &s->item);
			s->sending = 1;
		}
		int res;
		if (rex_shared_send_poll(&s->op, cx, &res) == REX_PENDING) {
			if (!x->sender_blocked) {
				x->sender_blocked = 1;
				if (x->root_waker)
					rex_waker_wake_by_ref(x->root_waker);
			}
			return REX_PENDING;
		}
		s->sending = 0;
		x->sender_blocked = 0;
		if (res < 0) { /* receiver gone (-EPIPE) */
			x->sender_done = 1;
			if (x->root_waker)
				rex_waker_wake_by_ref(x->root_waker);
			cx->output = res;
			return REX_READY;
		}
		s->item++;
	}
}

static void sender_drop(void *p)
{
	struct sender *s = p;
	if (s->sending)
		rex_shared_send_drop(&s->op);
	rex_shared_tx_close(s->tx);
}

static const struct rex_task_vtable sender_vt = { "exs-448-sender", sender_poll, sender_drop };

/* Receives CONSUME messages, then parks on a far timer still holding the
 * receiving end, so the sender fills the channel and blocks. */
struct consumer {
	struct exs_exec *x;
	rex_shared_rx *rx;
	struct rex_shared_recv op;
	uint64_t item;
	int receiving;
	int sleeping;
	struct rex_sleep sleep;
};

static void consumer_finished(struct exs_exec *x)
{
	x->consumer_done = 1;
	struct exs_pair *pr = x->pair;
	atomic_store_explicit(&pr->recv_done, 1, memory_order_seq_cst);
	rex_waker *w = atomic_exchange(&pr->s_root_waker, NULL);
	if (w)
		rex_waker_wake(w); /* the sender's root, on the other thread */
	if (x->root_waker)
		rex_waker_wake_by_ref(x->root_waker);
}

static enum rex_poll consumer_poll(void *p, struct rex_context *cx)
{
	struct consumer *c = p;
	struct exs_exec *x = c->x;
	while (!c->sleeping) {
		if (!c->receiving) {
			rex_shared_recv_init(&c->op, c->rx, &c->item);
			c->receiving = 1;
		}
		int res;
		if (rex_shared_recv_poll(&c->op, cx, &res) == REX_PENDING)
			return REX_PENDING;
		c->receiving = 0;
		if (res < 0) { /* sender gone: stop waiting for it */
			consumer_finished(x);
			cx->output = res;
			return REX_READY;
		}
		if (++x->consumed >= CONSUME) {
			rex_sleep_init(&c->sleep, FAR_NS);
			c->sleeping = 1;
			consumer_finished(x);
		}
	}
	return rex_sleep_poll(&c->sleep, cx);
}

static void consumer_drop(void *p)
{
	struct consumer *c = p;
	if (c->receiving)
		rex_shared_recv_drop(&c->op);
	if (c->sleeping)
		rex_sleep_drop(&c->sleep);
	rex_shared_rx_close(c->rx);
}

static const struct rex_task_vtable consumer_vt = { "exs-448-consumer", consumer_poll, consumer_drop };

/* Holds one end of a cross channel (so its peer stays parked) and parks
 * on receiving from another that nobody sends on. */
struct xrecv {
	struct exs_exec *x;
	int counted;
	rex_shared_tx *hold;
	rex_shared_rx *rx;
	struct rex_shared_recv op;
	uint64_t item;
	int receiving;
};

static enum rex_poll xrecv_poll(void *p, struct rex_context *cx)
{
	struct xrecv *t = p;
	if (!t->receiving) {
		rex_shared_recv_init(&t->op, t->rx, &t->item);
		t->receiving = 1;
	}
	int res;
	enum rex_poll r = rex_shared_recv_poll(&t->op, cx, &res);
	if (r == REX_READY) {
		t->receiving = 0;
		cx->output = res; /* -EPIPE once the peer executor dropped it */
	}
	settle(t->x, &t->counted);
	return r;
}

static void xrecv_drop(void *p)
{
	struct xrecv *t = p;
	if (t->receiving)
		rex_shared_recv_drop(&t->op);
	rex_shared_rx_close(t->rx);
	rex_shared_tx_close(t->hold);
}

static const struct rex_task_vtable xrecv_vt = { "exs-448-xrecv", xrecv_poll, xrecv_drop };

/* ---- the root task ------------------------------------------------------------------- */

struct root {
	struct exs_exec *x;
	int stage;
	int timer;
	struct rex_sleep timeout;
	struct rex_yield y;
};

/* Spawn with the end handed over: on success, or -ECANCELED (drop already
 * ran and closed it), the pair no longer owns it. */
static int spawn_owned(struct exs_exec *x, const struct rex_task_vtable *vt,
		       const void *st, size_t size, void **ends[], int nends)
{
	int rc = rex_spawn(x->ex, vt, st, size, NULL);
	if (rc == 0 || rc == -ECANCELED)
		for (int i = 0; i < nends; i++)
			*ends[i] = NULL;
	return rc;
}

static int start_pair(struct exs_exec *x)
{
	struct exs_pair *pr = x->pair;
	int rc;
	if (x->role == ROLE_SENDER) {
		if ((rc = rex_shared_tx_connect(pr->a_tx)))
			return set_err(x, rc, "connecting the sender end"), rc;
		struct sender s = { .x = x, .tx = pr->a_tx };
		void **e[] = { (void **)&pr->a_tx };
		if ((rc = spawn_owned(x, &sender_vt, &s, sizeof(s), e, 1)))
			return set_err(x, rc, "spawning the sender"), rc;
	} else {
		if ((rc = rex_shared_rx_connect(pr->a_rx)))
			return set_err(x, rc, "connecting the receiver end"), rc;
		struct consumer c = { .x = x, .rx = pr->a_rx };
		void **e[] = { (void **)&pr->a_rx };
		if ((rc = spawn_owned(x, &consumer_vt, &c, sizeof(c), e, 1)))
			return set_err(x, rc, "spawning the receiver"), rc;
	}
	for (unsigned j = 0; j < pr->m; j++) {
		struct xrecv t = { .x = x };
		void **e[2];
		if (x->role == ROLE_SENDER) {
			t.hold = pr->b_tx[j];
			t.rx = pr->d_rx[j];
			e[0] = (void **)&pr->b_tx[j];
			e[1] = (void **)&pr->d_rx[j];
			rc = rex_shared_tx_connect(t.hold);
			if (!rc)
				rc = rex_shared_rx_connect(t.rx);
		} else {
			t.hold = pr->d_tx[j];
			t.rx = pr->b_rx[j];
			e[0] = (void **)&pr->d_tx[j];
			e[1] = (void **)&pr->b_rx[j];
			rc = rex_shared_tx_connect(t.hold);
			if (!rc)
				rc = rex_shared_rx_connect(t.rx);
		}
		if (rc)
			return set_err(x, rc, "connecting a cross channel"), rc;
		x->expected++;
		if ((rc = spawn_owned(x, &xrecv_vt, &t, sizeof(t), e, 2)))
			return set_err(x, rc, "spawning a parked receiver"), rc;
	}
	return 0;
}

static int spawn_plain(struct exs_exec *x, const struct rex_task_vtable *vt,
		       struct ptask *t, rex_task **handle)
{
	t->x = x;
	int rc = rex_spawn(x->ex, vt, t, sizeof(*t), handle);
	if (rc)
		set_err(x, rc, "spawning a task");
	return rc;
}

static int start_plan(struct exs_exec *x)
{
	static const struct rex_task_vtable *const simple[K_NKINDS] = {
		[K_TIMER] = &timer_vt, [K_PIPE_READ] = &pipe_read_vt,
		[K_OPEN_FIFO] = &open_fifo_vt, [K_FOREIGN] = &foreign_vt,
		[K_FOREVER] = &forever_vt,
	};
	int rc;
	for (int k = 0; k < K_NKINDS; k++) {
		if (!simple[k])
			continue;
		for (unsigned i = 0; i < x->plan[k]; i++) {
			struct ptask t = { 0 };
			x->expected++;
			if ((rc = spawn_plain(x, simple[k], &t, NULL)))
				return rc;
		}
	}
	for (unsigned i = 0; i < x->plan[K_JOIN]; i++) {
		/* sleeper <- joiner <- joiner */
		struct ptask t = { 0 };
		rex_task *h;
		x->expected++;
		if ((rc = spawn_plain(x, &timer_vt, &t, &h)))
			return rc;
		for (int depth = 0; depth < 2; depth++) {
			struct ptask j = { 0 };
			rex_join_init(&j.u.join, h);
			x->expected++;
			/* The joiner consumes h, also when its spawn fails
			 * with -ECANCELED (its drop releases it). */
			rc = spawn_plain(x, &join_vt, &j, depth == 0 ? &h : NULL);
			if (rc) {
				if (rc != -ECANCELED)
					rex_task_detach(j.u.join.task);
				return rc;
			}
		}
	}
	for (unsigned i = 0; i < x->plan[K_SPAWN_DROP]; i++) {
		struct ptask v = { 0 }, d = { 0 }, s = { 0 };
		rex_task *victim;
		int slot = i < x->nslots ? (int)i : -1;
		x->expected += 3;
		if ((rc = spawn_plain(x, &timer_vt, &v, &victim)))
			return rc;
		d.u.donor.slot = slot;
		if ((rc = spawn_plain(x, &donor_vt, &d, NULL))) {
			rex_task_detach(victim);
			return rc;
		}
		s.u.sid.victim = victim;
		s.u.sid.slot = slot;
		s.u.sid.depth = 0;
		rc = spawn_plain(x, &sid_vt, &s, NULL);
		if (rc) {
			if (rc != -ECANCELED)
				rex_task_detach(victim);
			return rc;
		}
	}
	return 0;
}

static int root_ready(struct exs_exec *x)
{
	if (x->settled < x->expected)
		return 0;
	if (x->role == ROLE_SENDER)
		return atomic_load(&x->pair->recv_done) &&
		       (x->sender_blocked || x->sender_done);
	if (x->role == ROLE_RECEIVER)
		return x->consumer_done;
	return 1;
}

static enum rex_poll root_poll(void *p, struct rex_context *cx)
{
	struct root *rt = p;
	struct exs_exec *x = rt->x;

	switch (rt->stage) {
	case 0:
		x->ex = cx->executor;
		x->root_waker = rex_waker_clone(rex_context_waker(cx));
		rt->stage = 1;
		if ((x->role != ROLE_NONE && start_pair(x)) || start_plan(x))
			goto finish;
		rex_sleep_init(&rt->timeout, ROOT_TIMEOUT_NS);
		rt->timer = 1;
		/* fall through */
	case 1:
		while (!root_ready(x)) {
			if (x->role == ROLE_SENDER) {
				/* Woken from the receiver's thread. */
				rex_waker *w = rex_waker_clone(rex_context_waker(cx));
				rex_waker *old = atomic_exchange(&x->pair->s_root_waker, w);
				rex_waker_drop(old);
				if (root_ready(x))
					break;
			}
			if (rex_sleep_poll(&rt->timeout, cx) == REX_READY) {
				char what[96];
				snprintf(what, sizeof(what),
					 "root task timed out: %u of %u tasks parked%s",
					 x->settled, x->expected,
					 x->role == ROLE_SENDER ? ", sender waiting for the receiver"
					 : x->role == ROLE_RECEIVER ? ", receiver waiting for messages" : "");
				set_err(x, -ETIMEDOUT, what);
				goto finish;
			}
			return REX_PENDING;
		}
		rt->stage = 2;
		/* Opens submitted right before the executor goes: their
		 * completions are still unreaped at teardown. */
		for (unsigned i = 0; i < x->plan[K_OPEN_LATE]; i++) {
			struct ptask t = { 0 };
			if (spawn_plain(x, &open_late_vt, &t, NULL))
				goto finish;
		}
		rt->y.yielded = 0;
		/* fall through */
	case 2:
		if (rex_yield_poll(&rt->y, cx) == REX_PENDING)
			return REX_PENDING;
		break;
	}
finish:
	if (rt->timer) {
		rex_sleep_drop(&rt->timeout);
		rt->timer = 0;
	}
	struct rex_executor_stats st;
	rex_executor_stats(cx->executor, &st);
	x->parked_at_exit = st.tasks_live ? st.tasks_live - 1 : 0; /* not the root */
	rex_waker_drop(x->root_waker);
	x->root_waker = NULL;
	cx->output = x->err;
	return REX_READY;
}

/* Also runs when the executor could not be created: then this side's ends
 * are still the pair's. Close them so the peer sees -EPIPE and finishes
 * instead of waiting for us. */
static void root_drop(void *p)
{
	struct root *rt = p;
	struct exs_exec *x = rt->x;
	if (rt->timer)
		rex_sleep_drop(&rt->timeout);
	rex_waker_drop(x->root_waker);
	x->root_waker = NULL;
	struct exs_pair *pr = x->pair;
	if (!pr)
		return;
	if (x->role == ROLE_SENDER) {
		rex_shared_tx_close(pr->a_tx);
		pr->a_tx = NULL;
		for (unsigned j = 0; j < pr->m; j++) {
			rex_shared_tx_close(pr->b_tx[j]);
			rex_shared_rx_close(pr->d_rx[j]);
			pr->b_tx[j] = NULL;
			pr->d_rx[j] = NULL;
		}
	} else if (x->role == ROLE_RECEIVER) {
		rex_shared_rx_close(pr->a_rx);
		pr->a_rx = NULL;
		for (unsigned j = 0; j < pr->m; j++) {
			rex_shared_rx_close(pr->b_rx[j]);
			rex_shared_tx_close(pr->d_tx[j]);
			pr->b_rx[j] = NULL;
			pr->d_tx[j] = NULL;
		}
		if (!atomic_exchange(&pr->recv_done, 1)) {
			rex_waker *w = atomic_exchange(&pr->s_root_waker, NULL);
			if (w)
				rex_waker_wake(w);
		}
	}
}

static const struct rex_task_vtable root_vt = { "exs-root", root_poll, root_drop };

/* ---- runner ---------------------------------------------------------------------------- */

static void pair_release(struct exs_pair *pr)
{
	rex_shared_tx_close(pr->a_tx);
	rex_shared_rx_close(pr->a_rx);
	pr->a_tx = NULL;
	pr->a_rx = NULL;
	for (unsigned j = 0; j < pr->m; j++) {
		rex_shared_tx_close(pr->b_tx[j]);
		rex_shared_rx_close(pr->b_rx[j]);
		rex_shared_tx_close(pr->d_tx[j]);
		rex_shared_rx_close(pr->d_rx[j]);
		pr->b_tx[j] = NULL;
		pr->b_rx[j] = NULL;
		pr->d_tx[j] = NULL;
		pr->d_rx[j] = NULL;
	}
	rex_waker_drop(atomic_exchange(&pr->s_root_waker, NULL));
}

static int pair_setup(struct exs_pair *pr)
{
	int rc;
	atomic_store(&pr->recv_done, 0);
	if ((rc = rex_shared_chan_new(sizeof(uint64_t), CHAN_CAP, &pr->a_tx, &pr->a_rx)))
		return rc;
	for (unsigned j = 0; j < pr->m; j++) {
		if ((rc = rex_shared_chan_new(sizeof(uint64_t), 1, &pr->b_tx[j], &pr->b_rx[j])))
			return rc;
		if ((rc = rex_shared_chan_new(sizeof(uint64_t), 1, &pr->d_tx[j], &pr->d_rx[j])))
			return rc;
	}
	return 0;
}

/* Threads that overlap for the first time make glibc create malloc arenas
 * (64 MiB of VSZ each). Executor threads overlap by chance, so that first
 * time could fall after the warm-up and look like a leak. Make them now:
 * n executors on their threads, all alive at once, as in an iteration. */
struct prewarm {
	pthread_barrier_t *b;
	int arrived;
};

static enum rex_poll prewarm_poll(void *p, struct rex_context *cx)
{
	struct prewarm *pw = p;
	(void)cx;
	pw->arrived = 1;
	pthread_barrier_wait(pw->b);
	return REX_READY;
}

/* Also runs, unpolled, when the executor could not be created (EMFILE):
 * then arrive here so the others are not left waiting. */
static void prewarm_drop(void *p)
{
	struct prewarm *pw = p;
	if (!pw->arrived)
		pthread_barrier_wait(pw->b);
}

static const struct rex_task_vtable prewarm_vt = { "exs-prewarm", prewarm_poll, prewarm_drop };

/* Returns 0, or the first executor creation error (e.g. -EMFILE: n
 * executors cannot exist at once under this fd limit, so neither can an
 * iteration's: an environment error, found before the baseline). */
static int prewarm_arenas(const struct rex_config *cfg, unsigned n)
{
	int err = 0;
	pthread_barrier_t b;
	rex_thread *t[64];
	struct prewarm p = { &b, 0 };
	if (n > 64)
		n = 64;
	if (pthread_barrier_init(&b, NULL, n + 1) != 0)
		return 0;
	unsigned started = 0;
	for (; started < n; started++)
		if (rex_thread_spawn(cfg, &prewarm_vt, &p, sizeof(p), &t[started]) != 0)
			break;
	/* Best effort: if a thread is missing, stand in for it so nobody
	 * waits forever. */
	for (unsigned i = started; i <= n; i++)
		pthread_barrier_wait(&b);
	for (unsigned i = 0; i < started; i++) {
		int rc = rex_thread_join(t[i], NULL);
		if (rc && !err)
			err = rc;
	}
	pthread_barrier_destroy(&b);
	return err;
}

uint64_t exs_runner_take_parked(struct exs_runner *r)
{
	uint64_t n = r->parked;
	r->parked = 0;
	return n;
}

void exs_runner_free(struct exs_runner *r)
{
	if (!r)
		return;
	if (r->wt_started) {
		pthread_mutex_lock(&r->mu);
		r->stop = 1;
		pthread_cond_signal(&r->cv);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->wt, NULL);
	}
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	pthread_cond_destroy(&r->done_cv);
	free(r->q);
	if (r->pipe_rd >= 0)
		close(r->pipe_rd);
	if (r->pipe_wr >= 0)
		close(r->pipe_wr);
	if (r->fifo[0])
		unlink(r->fifo);
	if (r->dir[0])
		rmdir(r->dir);
	for (unsigned i = 0; r->x && i < r->cfg.executors; i++)
		free(r->x[i].slots);
	for (unsigned i = 0; r->pairs && i < r->npairs; i++) {
		struct exs_pair *pr = &r->pairs[i];
		free(pr->b_tx);
		free(pr->b_rx);
		free(pr->d_tx);
		free(pr->d_rx);
	}
	free(r->pairs);
	free(r->x);
	free(r->threads);
	free(r);
}

int exs_runner_new(const struct exs_runner_config *cfg, struct exs_runner **out,
		   const char **what)
{
	*out = NULL;
	struct exs_runner *r = calloc(1, sizeof(*r));
	if (!r)
		return *what = "allocating the runner", -ENOMEM;
	r->cfg = *cfg;
	r->pipe_rd = r->pipe_wr = -1;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	pthread_cond_init(&r->done_cv, NULL);
	rex_config_init(&r->rcfg);
	r->rcfg.policy = cfg->policy;
	/* Small rings: creation cost is what an iteration is made of. */
	r->rcfg.ring_entries = 64;

	int rc;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		rc = -errno;
		*what = "creating the pipe";
		goto fail;
	}
	r->pipe_rd = p[0];
	r->pipe_wr = p[1];
	snprintf(r->dir, sizeof(r->dir), "/tmp/exstress.XXXXXX");
	if (!mkdtemp(r->dir)) {
		rc = -errno;
		r->dir[0] = '\0';
		*what = "creating a directory in /tmp for the FIFO";
		goto fail;
	}
	snprintf(r->fifo, sizeof(r->fifo), "%s/fifo", r->dir);
	if (mkfifo(r->fifo, 0600) < 0) {
		rc = -errno;
		r->fifo[0] = '\0';
		*what = "creating the FIFO";
		goto fail;
	}
	unsigned k = cfg->executors;
	r->x = calloc(k, sizeof(*r->x));
	r->threads = calloc(k, sizeof(*r->threads));
	r->npairs = k / 2;
	r->pairs = calloc(r->npairs ? r->npairs : 1, sizeof(*r->pairs));
	if (!r->x || !r->threads || !r->pairs) {
		rc = -ENOMEM;
		*what = "allocating executor contexts";
		goto fail;
	}
	for (unsigned i = 0; i < k; i++) {
		r->x[i].r = r;
		r->x[i].index = i;
		r->x[i].nslots = cfg->tasks;
		if (cfg->tasks && !(r->x[i].slots = calloc(cfg->tasks, sizeof(rex_waker *)))) {
			rc = -ENOMEM;
			*what = "allocating executor contexts";
			goto fail;
		}
	}
	for (unsigned i = 0; i < r->npairs; i++) {
		struct exs_pair *pr = &r->pairs[i];
		size_t m = cfg->tasks ? cfg->tasks : 1;
		pr->b_tx = calloc(m, sizeof(*pr->b_tx));
		pr->b_rx = calloc(m, sizeof(*pr->b_rx));
		pr->d_tx = calloc(m, sizeof(*pr->d_tx));
		pr->d_rx = calloc(m, sizeof(*pr->d_rx));
		if (!pr->b_tx || !pr->b_rx || !pr->d_tx || !pr->d_rx) {
			rc = -ENOMEM;
			*what = "allocating channel tables";
			goto fail;
		}
	}
	if ((rc = -pthread_create(&r->wt, NULL, waker_thread, r))) {
		*what = "starting the waker thread";
		goto fail;
	}
	r->wt_started = 1;
	if ((rc = prewarm_arenas(&r->rcfg, k + 2)) == -EMFILE || rc == -ENFILE) {
		*what = "executor creation failed";
		goto fail;
	}
	*out = r;
	return 0;
fail:
	exs_runner_free(r);
	return rc;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* What each executor does in this iteration. */
static void plan_iteration(struct exs_runner *r, enum exs_scenario sc,
			   uint64_t iteration)
{
	unsigned k = r->cfg.executors, m = r->cfg.tasks;
	uint64_t rng = r->cfg.seed ^ (iteration * 0xd1b54a32d192ed03ull);
	int pairs = sc == EXS_SC_ISSUE448 ||
		    (sc == EXS_SC_MIXED && (splitmix64(&rng) & 1));

	for (unsigned i = 0; i < k; i++) {
		struct exs_exec *x = &r->x[i];
		memset(x->plan, 0, sizeof(x->plan));
		x->ex = NULL;
		x->expected = x->settled = 0;
		x->root_waker = NULL;
		x->err = 0;
		x->parked_at_exit = 0;
		x->what[0] = '\0';
		x->consumed = 0;
		x->consumer_done = x->sender_blocked = x->sender_done = 0;
		x->role = ROLE_NONE;
		x->pair = NULL;
		if (pairs && i / 2 < r->npairs) {
			x->pair = &r->pairs[i / 2];
			x->role = i % 2 ? ROLE_RECEIVER : ROLE_SENDER;
		}
		switch (sc) {
		case EXS_SC_TIMERS:
			x->plan[K_TIMER] = m;
			break;
		case EXS_SC_IO:
			/* reads of an empty pipe, one blocked FIFO open, and
			 * opens whose completions teardown must reap */
			x->plan[K_PIPE_READ] = m;
			x->plan[K_OPEN_FIFO] = 1;
			x->plan[K_OPEN_LATE] = m ? (m + 1) / 2 : 0;
			break;
		case EXS_SC_JOINS:
			x->plan[K_JOIN] = m;
			break;
		case EXS_SC_FOREIGN_WAKERS:
			x->plan[K_FOREIGN] = m;
			break;
		case EXS_SC_SPAWN_IN_DROP:
			x->plan[K_SPAWN_DROP] = m;
			break;
		case EXS_SC_MIXED:
			for (unsigned t = 0; t < m; t++) {
				int kind = (int)(splitmix64(&rng) % K_NKINDS);
				/* a blocked FIFO open costs an io-wq thread:
				 * keep those rare */
				if (kind == K_OPEN_FIFO && splitmix64(&rng) % 4)
					kind = K_TIMER;
				x->plan[kind]++;
			}
			break;
		default:
			break;
		}
	}
}

static void describe_err(int err, char *msg, size_t len, const char *what)
{
	if (err == -EMFILE || err == -ENFILE) {
		struct rlimit rl;
		getrlimit(RLIMIT_NOFILE, &rl);
		snprintf(msg, len,
			 "%s: %s (RLIMIT_NOFILE=%llu); raise ulimit -n", what,
			 strerror(-err), (unsigned long long)rl.rlim_cur);
	} else {
		snprintf(msg, len, "%s: %s", what, strerror(-err));
	}
}

int exs_runner_iteration(struct exs_runner *r, enum exs_scenario sc,
			 uint64_t iteration, char *msg, size_t msglen)
{
	unsigned k = r->cfg.executors;
	int err = 0;
	char what[160] = "";

	plan_iteration(r, sc, iteration);
	if (sc == EXS_SC_ISSUE448 && r->npairs == 0) {
		snprintf(msg, msglen, "issue448 needs at least 2 executors (--executors)");
		return -EINVAL;
	}
	for (unsigned i = 0; i < r->npairs; i++) {
		struct exs_pair *pr = &r->pairs[i];
		pr->m = 0;
		if (!r->x[2 * i].pair)
			continue;
		pr->m = r->cfg.tasks;
		if ((err = pair_setup(pr))) {
			describe_err(err, msg, msglen, "creating shared channels");
			for (unsigned j = 0; j <= i; j++)
				pair_release(&r->pairs[j]);
			return err;
		}
	}

	unsigned started = 0;
	for (; started < k; started++) {
		struct root rt = { .x = &r->x[started] };
		int rc = rex_thread_spawn(&r->rcfg, &root_vt, &rt, sizeof(rt),
					  &r->threads[started]);
		if (rc) {
			err = rc;
			snprintf(what, sizeof(what), "starting executor thread %u", started);
			break;
		}
	}
	/* Executors that never started cannot release their pair's ends:
	 * do it for them, so their peers finish. */
	for (unsigned i = started; i < k; i++) {
		struct root rt = { .x = &r->x[i] };
		root_drop(&rt);
	}
	for (unsigned i = 0; i < started; i++) {
		int64_t out = 0;
		int rc = rex_thread_join(r->threads[i], &out);
		r->threads[i] = NULL;
		if (rc && (!err || err == -ETIMEDOUT)) {
			err = rc;
			snprintf(what, sizeof(what), "executor creation failed");
		} else if (!rc && r->x[i].err && !err) {
			err = r->x[i].err;
			snprintf(what, sizeof(what), "executor %u: %s", i, r->x[i].what);
		}
	}
	/* The executors are gone: now the other thread wakes and drops the
	 * wakers it holds. */
	waker_flush(r);
	for (unsigned i = 0; i < k; i++) {
		struct exs_exec *x = &r->x[i];
		r->parked += x->parked_at_exit;
		for (unsigned s = 0; s < x->nslots; s++) {
			rex_waker_drop(x->slots[s]);
			x->slots[s] = NULL;
		}
		x->ex = NULL;
	}
	for (unsigned i = 0; i < r->npairs; i++)
		pair_release(&r->pairs[i]);
	if (err)
		describe_err(err, msg, msglen, what);
	return err;
}
