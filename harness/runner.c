/*
 * The scenario runner: one iteration creates K executors on their own
 * threads (rex_thread_spawn), each root task parks work (tasks.c,
 * issue448.c) and finishes once all of it is parked, so every executor is
 * freed with tasks still parked; then the threads are joined and the
 * foreign-waker thread wakes and drops what it holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner.h"

/* ---- the root task ------------------------------------------------------------------- */

struct root {
	struct exs_exec *x;
	int stage;
	int timer;
	struct rex_sleep timeout;
	struct rex_yield y;
	int cancelled; /* job mode: this side's tasks cancelled */
	int arrived;   /* pair_meet: this side is all parked */
	int drain;     /* job mode: yields left to drain late wakes */
};

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

/* Tasks left parked in the executor when the root is done. */
static void record_parked(struct exs_exec *x, struct rex_context *cx)
{
	struct rex_executor_stats st;
	rex_executor_stats(cx->executor, &st);
	x->parked_at_exit = st.tasks_live ? st.tasks_live - 1
					  : 0; /* not the root */
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
				rex_waker *w = rex_waker_clone(
					rex_context_waker(cx));
				rex_waker *old = atomic_exchange(
					&x->pair->sender_root_waker, w);
				rex_waker_drop(old);
				if (root_ready(x))
					break;
			}
			if (rex_sleep_poll(&rt->timeout, cx) == REX_READY) {
				char what[96];
				snprintf(
					what, sizeof(what),
					"root task timed out: %u of %u tasks parked%s",
					x->settled, x->expected,
					x->role == ROLE_SENDER
						? ", sender waiting for the receiver"
					: x->role == ROLE_RECEIVER
						? ", receiver waiting for messages"
						: "");
				set_err(x, -ETIMEDOUT, what);
				goto finish;
			}
			return REX_PENDING;
		}
		rt->stage = 2;
		/* fall through */
	case 2:
		if (x->pair && pair_meet(x, &x->pair->parked, cx,
					 &rt->arrived) == REX_PENDING) {
			if (rex_sleep_poll(&rt->timeout, cx) == REX_READY) {
				set_err(x, -ETIMEDOUT,
					"root task timed out waiting for its peer");
				goto finish;
			}
			return REX_PENDING;
		}
		rt->stage = 3;
		/* Opens submitted right before the executor goes: their
		 * completions are still unreaped at teardown. */
		if (start_late_opens(x))
			goto finish;
		/* All parked (the peer too): count them now, before the
		 * peer's teardown may wake some of ours. */
		record_parked(x, cx);
		rt->y.yielded = 0;
		/* fall through */
	case 3:
		if (rex_yield_poll(&rt->y, cx) == REX_PENDING)
			return REX_PENDING;
		if (!x->job_mode)
			break;
		rt->stage = 4;
		/* fall through */
	case 4:
		/* The executor stays: the job cancels what it parked and
		 * waits for its peer to do the same. Wakes the peer sent its
		 * tasks meanwhile sit in this executor's notifier queue: the
		 * job ends only after being woken through that queue itself
		 * (by the waker thread), behind them, twice, so the executor
		 * has taken them in and released them. */
		if (x->pair &&
		    pair_end_job(x, cx, &rt->cancelled) == REX_PENDING)
			return REX_PENDING;
		if (rt->drain < 2) {
			rex_waker *w = rex_waker_clone(rex_context_waker(cx));
			if (waker_post(x->r, w) != 0) {
				rex_waker_drop(w);
				set_err(x, -ENOMEM,
					"handing a waker to the waker thread");
				goto finish;
			}
			rt->drain++;
			return REX_PENDING;
		}
		break;
	}
finish:
	if (x->pair) /* never leave the peer waiting */
		pair_meet(x, &x->pair->parked, NULL, &rt->arrived);
	if (rt->timer) {
		rex_sleep_drop(&rt->timeout);
		rt->timer = 0;
	}
	if (rt->stage < 3)
		record_parked(x, cx); /* ended early */
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
	if (x->pair)
		pair_meet(x, &x->pair->parked, NULL, &rt->arrived);
	pair_close_side(x);
}

static const struct rex_task_vtable root_vt = { "exs-root", root_poll,
						root_drop };

static void root_init(void *p, struct exs_exec *x)
{
	struct root *rt = p;
	memset(rt, 0, sizeof(*rt));
	rt->x = x;
}

/* ---- runner ---------------------------------------------------------------------------- */

/* Every thread waits until `expected` have arrived; the caller lowers
 * `expected` when it could not start them all (a barrier cannot: the
 * caller would have to arrive for each missing thread, and its first wait
 * already blocks). */
struct prewarm_gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned arrived, expected;
};

static void gate_arrive(struct prewarm_gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->arrived++;
	pthread_cond_broadcast(&g->cv);
	while (g->arrived < g->expected)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

/* Threads that overlap for the first time make glibc create malloc arenas
 * (64 MiB of VSZ each). Executor threads overlap by chance, so that first
 * time could fall after the warm-up and look like a leak. Make them now:
 * n executors on their threads, all alive at once, as in an iteration. */
struct prewarm {
	struct prewarm_gate *g;
	int arrived;
};

static enum rex_poll prewarm_poll(void *p, struct rex_context *cx)
{
	struct prewarm *pw = p;
	(void)cx;
	pw->arrived = 1;
	gate_arrive(pw->g);
	return REX_READY;
}

/* Also runs, unpolled, when the executor could not be created (EMFILE,
 * ENOMEM): then arrive here so the others are not left waiting. */
static void prewarm_drop(void *p)
{
	struct prewarm *pw = p;
	if (!pw->arrived)
		gate_arrive(pw->g);
}

static const struct rex_task_vtable prewarm_vt = { "exs-prewarm", prewarm_poll,
						   prewarm_drop };

/* Returns 0, or the first executor creation error (e.g. -EMFILE: n
 * executors cannot exist at once under this fd limit, so neither can an
 * iteration's: an environment error, found before the baseline). */
static int prewarm_arenas(const struct rex_config *cfg, unsigned n)
{
	int err = 0;
	struct prewarm_gate g = { PTHREAD_MUTEX_INITIALIZER,
				  PTHREAD_COND_INITIALIZER, 0, 0 };
	rex_thread *t[64];
	struct prewarm p = { &g, 0 };
	if (n > 64)
		n = 64;
	g.expected = n + 1;
	unsigned started = 0;
	for (; started < n; started++)
		if (rex_thread_spawn(cfg, &prewarm_vt, &p, sizeof(p),
				     &t[started]) != 0)
			break;
	/* Best effort: if a thread is missing, wait for those that started */
	pthread_mutex_lock(&g.mu);
	g.expected = started + 1;
	pthread_mutex_unlock(&g.mu);
	gate_arrive(&g);
	for (unsigned i = 0; i < started; i++) {
		int rc = rex_thread_join(t[i], NULL);
		if (rc && !err)
			err = rc;
	}
	pthread_cond_destroy(&g.cv);
	pthread_mutex_destroy(&g.mu);
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
	waker_stop(r);
	if (r->pipe_rd >= 0)
		close(r->pipe_rd);
	if (r->pipe_wr >= 0)
		close(r->pipe_wr);
	if (r->fifo[0])
		unlink(r->fifo);
	if (r->dir[0])
		rmdir(r->dir);
	workers_stop(r);
	for (unsigned i = 0; r->x && i < r->cfg.executors; i++) {
		free(r->x[i].slots);
		free(r->x[i].job_tasks);
	}
	for (unsigned i = 0; r->pairs && i < r->npairs; i++) {
		struct exs_pair *pr = &r->pairs[i];
		free(pr->to_recv_tx);
		free(pr->to_recv_rx);
		free(pr->to_send_tx);
		free(pr->to_send_rx);
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
		r->x[i].job_cap =
			cfg->tasks +
			1; /* the sender or consumer, M cross receivers */
		if (!(r->x[i].job_tasks = calloc(r->x[i].job_cap,
						 sizeof(rex_task *)))) {
			rc = -ENOMEM;
			*what = "allocating executor contexts";
			goto fail;
		}
		if (cfg->tasks &&
		    !(r->x[i].slots = calloc(cfg->tasks,
					     sizeof(rex_waker *)))) {
			rc = -ENOMEM;
			*what = "allocating executor contexts";
			goto fail;
		}
	}
	for (unsigned i = 0; i < r->npairs; i++) {
		struct exs_pair *pr = &r->pairs[i];
		size_t m = cfg->tasks ? cfg->tasks : 1;
		pr->to_recv_tx = calloc(m, sizeof(*pr->to_recv_tx));
		pr->to_recv_rx = calloc(m, sizeof(*pr->to_recv_rx));
		pr->to_send_tx = calloc(m, sizeof(*pr->to_send_tx));
		pr->to_send_rx = calloc(m, sizeof(*pr->to_send_rx));
		if (!pr->to_recv_tx || !pr->to_recv_rx || !pr->to_send_tx ||
		    !pr->to_send_rx) {
			rc = -ENOMEM;
			*what = "allocating channel tables";
			goto fail;
		}
	}
	if ((rc = waker_start(r))) {
		*what = "starting the waker thread";
		goto fail;
	}
	/* Wait until the waker thread runs: it allocates as it starts, and
	 * that must come before the baseline sample. Scheduled late, it came
	 * in a measured iteration of a short warm-up: a 520-byte heap "leak"
	 * of fixed. A flush is answered only from the thread's loop. */
	pthread_mutex_lock(&r->mu);
	r->posted = 1;
	pthread_mutex_unlock(&r->mu);
	waker_flush(r);
	if ((rc = prewarm_arenas(&r->rcfg, k + 2)) == -EMFILE ||
	    rc == -ENFILE) {
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
	int pairs = sc == EXS_SC_ISSUE448 || sc == EXS_SC_LONG_LIVED ||
		    sc == EXS_SC_THREAD_LOCAL ||
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
		x->job_mode = sc == EXS_SC_LONG_LIVED ||
			      sc == EXS_SC_THREAD_LOCAL;
		x->njob_tasks = 0;
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
		/* what to do about it is the caller's to say: it knows
		 * whether fds leaked before */
		snprintf(msg, len, "%s: %s (RLIMIT_NOFILE=%llu)", what,
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
	if ((sc == EXS_SC_ISSUE448 || sc == EXS_SC_LONG_LIVED ||
	     sc == EXS_SC_THREAD_LOCAL) &&
	    r->npairs == 0) {
		snprintf(msg, msglen,
			 "issue448 needs at least 2 executors (--executors)");
		return -EINVAL;
	}
	for (unsigned i = 0; i < r->npairs; i++) {
		struct exs_pair *pr = &r->pairs[i];
		pr->m = 0;
		if (!r->x[2 * i].pair)
			continue;
		pr->m = r->cfg.tasks;
		if ((err = pair_setup(pr))) {
			describe_err(err, msg, msglen,
				     "creating shared channels");
			for (unsigned j = 0; j <= i; j++)
				pair_release(&r->pairs[j]);
			return err;
		}
	}

	int jobs = sc == EXS_SC_LONG_LIVED || sc == EXS_SC_THREAD_LOCAL;
	if (jobs) {
		const char *failed = "";
		err = workers_run_jobs(r, sc == EXS_SC_THREAD_LOCAL, &root_vt,
				       sizeof(struct root), root_init, &failed);
		if (err)
			snprintf(what, sizeof(what), "%s", failed);
		goto joined;
	}
	unsigned started = 0;
	for (; started < k; started++) {
		struct root rt = { .x = &r->x[started] };
		int rc = rex_thread_spawn(&r->rcfg, &root_vt, &rt, sizeof(rt),
					  &r->threads[started]);
		if (rc) {
			err = rc;
			snprintf(what, sizeof(what),
				 "starting executor thread %u", started);
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
			snprintf(what, sizeof(what),
				 "executor creation failed");
		} else if (!rc && r->x[i].err && !err) {
			err = r->x[i].err;
			snprintf(what, sizeof(what), "executor %u: %s", i,
				 r->x[i].what);
		}
	}
joined:
	/* The executors are gone (or, for jobs, idle): now the other thread
	 * wakes and drops the wakers it holds. */
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
