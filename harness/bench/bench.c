/*
 * bench: librex / fdtrack speed, each figure measured side by side with its
 * floor (baseline) in the same run, repetitions interleaved (ABAB..., the
 * order flipped every repetition) so that drift hits both alike.
 *
 *   bench [--smoke] [--json FILE] [--reps N] [--only NAME[,NAME...]]
 *         [--exstress PATH] [--list]
 *
 * Prints a Markdown table on stdout (progress on stderr), writes JSON with
 * --json. Exit 0 even when goals are missed (it says which); 1 when a figure
 * could not be measured at all (e.g. BPF unavailable); 2 on usage errors.
 * See harness/bench/README.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "clock.h"
#include "json.h"
#include "rex.h"
#ifndef BENCH_NO_FDTRACK
#include "fdtrack.h"
#endif
#include "noop.skel.h"

#ifndef BENCH_EXSTRESS
#define BENCH_EXSTRESS "build/bin/exstress"
#endif

extern char **environ;

#define MAX_REPS 64
#define RING_ENTRIES 256 /* = rex's default, used by both sides */

static bool smoke;
static const char *only;

/* Figures whose code never blocks are timed in thread CPU time
 * (thread_cpu_ns): what they cost, without the time other processes on this
 * shared machine preempted them. The others in wall time (mono_ns). */

static void progress(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

/* ---- results ------------------------------------------------------------ */

enum goal_kind {
	GOAL_RATIO_MAX,  /* ratio <= goal_value (and median <= goal_cap if set) */
	GOAL_MEDIAN_MIN, /* median >= goal_value */
};

struct result {
	const char *name;
	const char *unit;
	const char *what;
	const char *baseline_what; /* NULL: no baseline */
	enum goal_kind goal_kind;
	double goal_value;
	double goal_cap;           /* GOAL_RATIO_MAX: median must also be <= */
	const char *goal_text;
	const char *clock;         /* "thread-cpu" or "wall" */
	unsigned long long count;  /* operations per repetition */
	int nrep;
	double fig[MAX_REPS];
	double base[MAX_REPS];
	/* fdtrack_syscall_overhead: the loop with nothing attached */
	const char *extra_name;
	double extra[MAX_REPS];
	int nextra;
	char error[256];
	/* computed */
	double med, min, max, bmed, bmin, bmax, ratio, paired_ratio;
	double emed, emin, emax;
	bool met;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void stats(const double *v, int n, double *med, double *min, double *max)
{
	double s[MAX_REPS];
	if (n <= 0) {
		*med = *min = *max = NAN;
		return;
	}
	memcpy(s, v, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	*min = s[0];
	*max = s[n - 1];
	*med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void finish(struct result *r)
{
	stats(r->fig, r->nrep, &r->med, &r->min, &r->max);
	r->bmed = r->bmin = r->bmax = r->ratio = r->paired_ratio = NAN;
	r->emed = r->emin = r->emax = NAN;
	if (r->baseline_what) {
		double q[MAX_REPS];
		stats(r->base, r->nrep, &r->bmed, &r->bmin, &r->bmax);
		if (r->bmed > 0)
			r->ratio = r->med / r->bmed;
		for (int i = 0; i < r->nrep; i++)
			q[i] = r->base[i] > 0 ? r->fig[i] / r->base[i] : NAN;
		double lo, hi;
		stats(q, r->nrep, &r->paired_ratio, &lo, &hi);
	}
	if (r->nextra)
		stats(r->extra, r->nextra, &r->emed, &r->emin, &r->emax);
	if (r->error[0] || r->nrep == 0)
		r->met = false;
	else if (r->goal_kind == GOAL_MEDIAN_MIN)
		r->met = r->med >= r->goal_value;
	else
		r->met = r->ratio <= r->goal_value &&
			 (r->goal_cap <= 0 || r->med <= r->goal_cap);
}

static bool selected(const char *name)
{
	if (!only)
		return true;
	size_t n = strlen(name);
	for (const char *p = only; (p = strstr(p, name)); p += n)
		if ((p == only || p[-1] == ',') && (p[n] == ',' || p[n] == 0))
			return true;
	return false;
}

static int reps_for(int dflt, int user)
{
	if (smoke)
		return 1;
	int n = user > 0 ? user : dflt;
	return n > MAX_REPS ? MAX_REPS : n;
}

/* Run `a` and `b` n times each, interleaved, order flipped each time.
 * Each returns its figure for one repetition, or < 0 on failure. */
typedef double (*rep_fn)(void *arg);

static int interleave(struct result *r, int n, rep_fn a, void *aa, rep_fn b, void *ba)
{
	for (int i = 0; i < n; i++) {
		for (int k = 0; k < 2; k++) {
			/* even repetitions: figure first; odd: baseline first */
			bool fig = (k == 0) ^ (i % 2 == 1);
			rep_fn f = fig ? a : b;
			if (!f)
				continue;
			double v = f(fig ? aa : ba);
			if (v < 0) {
				if (!r->error[0])
					snprintf(r->error, sizeof(r->error),
						 "%s failed", fig ? "figure" : "baseline");
				return -1;
			}
			(fig ? r->fig : r->base)[i] = v;
		}
		r->nrep = i + 1;
		progress(".");
	}
	return 0;
}

/* ---- trivial tasks ---------------------------------------------------------- */

static enum rex_poll empty_poll(void *st, struct rex_context *cx)
{
	(void)st;
	cx->output = 0;
	return REX_READY;
}
static const struct rex_task_vtable empty_vt = { "bench-empty", empty_poll, NULL };

static int ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

/* ---- executor_cycle / executor_cycle_thread ------------------------------------ */

struct cycle_arg {
	unsigned long long n;
};

static int rex_cycle_once(void)
{
	struct rex_config cfg;
	rex_executor *ex;
	rex_config_init(&cfg);
	cfg.ring_entries = RING_ENTRIES;
	int err = rex_executor_new(&cfg, &ex);
	if (err)
		return err;
	err = rex_executor_run(ex, &empty_vt, NULL, 0, NULL);
	rex_executor_free(ex);
	return err;
}

static int raw_cycle_once(void)
{
	struct io_uring ring;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0)
		return -errno;
	int err = io_uring_queue_init(RING_ENTRIES, &ring, 0);
	if (err < 0) {
		close(efd);
		return err;
	}
	close(efd);
	io_uring_queue_exit(&ring);
	return 0;
}

static double rep_rex_cycle(void *arg)
{
	struct cycle_arg *a = arg;
	uint64_t t0 = thread_cpu_ns();
	for (unsigned long long i = 0; i < a->n; i++)
		if (rex_cycle_once())
			return -1;
	return (double)(thread_cpu_ns() - t0) / (double)a->n;
}

static double rep_raw_cycle(void *arg)
{
	struct cycle_arg *a = arg;
	uint64_t t0 = thread_cpu_ns();
	for (unsigned long long i = 0; i < a->n; i++)
		if (raw_cycle_once())
			return -1;
	return (double)(thread_cpu_ns() - t0) / (double)a->n;
}

static double rep_rex_cycle_thread(void *arg)
{
	struct cycle_arg *a = arg;
	struct rex_config cfg;
	rex_config_init(&cfg);
	cfg.ring_entries = RING_ENTRIES;
	uint64_t t0 = mono_ns();
	for (unsigned long long i = 0; i < a->n; i++) {
		rex_thread *t;
		if (rex_thread_spawn(&cfg, &empty_vt, NULL, 0, &t))
			return -1;
		if (rex_thread_join(t, NULL))
			return -1;
	}
	return (double)(mono_ns() - t0) / (double)a->n;
}

static void *raw_cycle_thread(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)raw_cycle_once();
}

static double rep_raw_cycle_thread(void *arg)
{
	struct cycle_arg *a = arg;
	uint64_t t0 = mono_ns();
	for (unsigned long long i = 0; i < a->n; i++) {
		pthread_t th;
		void *ret;
		if (pthread_create(&th, NULL, raw_cycle_thread, NULL))
			return -1;
		pthread_join(th, &ret);
		if (ret)
			return -1;
	}
	return (double)(mono_ns() - t0) / (double)a->n;
}

/* ---- spawn_complete ------------------------------------------------------------- */

struct spawner {
	unsigned long long total, spawned, completed;
	unsigned batch;
	unsigned long long *done; /* the trivial tasks count here */
	int err;
};

static enum rex_poll trivial_poll(void *st, struct rex_context *cx)
{
	unsigned long long *done = *(unsigned long long **)st;
	++*done;
	cx->output = 0;
	return REX_READY;
}
static const struct rex_task_vtable trivial_vt = { "bench-trivial", trivial_poll, NULL };

/* The run queue is FIFO: spawn a batch, wake ourselves (queued behind the
 * batch), and on the next poll the whole batch has run to completion. */
static enum rex_poll spawner_poll(void *st, struct rex_context *cx)
{
	struct spawner *s = st;
	s->completed = *s->done;
	if (s->completed == s->total || s->err) {
		cx->output = s->err ? s->err : (int64_t)s->completed;
		return REX_READY;
	}
	if (s->completed == s->spawned) {
		unsigned long long n = s->total - s->spawned;
		if (n > s->batch)
			n = s->batch;
		for (unsigned long long i = 0; i < n; i++) {
			int err = rex_spawn(cx->executor, &trivial_vt, &s->done,
					    sizeof(s->done), NULL);
			if (err) {
				s->err = err;
				break;
			}
			s->spawned++;
		}
	}
	rex_waker_wake_by_ref(rex_context_waker(cx));
	return REX_PENDING;
}
static const struct rex_task_vtable spawner_vt = { "bench-spawner", spawner_poll, NULL };

struct rate_arg {
	unsigned long long n;
};

static double rep_spawn_complete(void *arg)
{
	struct rate_arg *a = arg;
	unsigned long long done = 0;
	struct spawner s = { .total = a->n, .batch = 1024, .done = &done };
	rex_executor *ex;
	int64_t out;
	if (rex_executor_new(NULL, &ex))
		return -1;
	uint64_t t0 = thread_cpu_ns();
	int err = rex_executor_run(ex, &spawner_vt, &s, sizeof(s), &out);
	uint64_t t1 = thread_cpu_ns();
	rex_executor_free(ex);
	if (err || out != (int64_t)a->n)
		return -1;
	return (double)a->n / ((double)(t1 - t0) / 1e9);
}

/* ---- local_wake ------------------------------------------------------------------ */

struct waker_state {
	unsigned long long left;
};

/* Wake ourselves from our own executor, n times: each wake queues the task
 * (SCHEDULED + a queue reference), the loop pops and re-polls it. */
static enum rex_poll self_wake_poll(void *st, struct rex_context *cx)
{
	struct waker_state *w = st;
	if (w->left == 0) {
		cx->output = 0;
		return REX_READY;
	}
	w->left--;
	rex_waker_wake_by_ref(rex_context_waker(cx));
	return REX_PENDING;
}
static const struct rex_task_vtable self_wake_vt = { "bench-self-wake", self_wake_poll, NULL };

static double rep_local_wake(void *arg)
{
	struct rate_arg *a = arg;
	struct waker_state w = { .left = a->n };
	rex_executor *ex;
	if (rex_executor_new(NULL, &ex))
		return -1;
	uint64_t t0 = thread_cpu_ns();
	int err = rex_executor_run(ex, &self_wake_vt, &w, sizeof(w), NULL);
	uint64_t t1 = thread_cpu_ns();
	rex_executor_free(ex);
	if (err)
		return -1;
	return (double)a->n / ((double)(t1 - t0) / 1e9);
}

/* ---- foreign_pingpong --------------------------------------------------------------- */

struct pp_arg {
	unsigned long long n, warm;
	int cpu_a, cpu_b;
};

/* One side of the ping-pong: the initiator sends then receives, the other
 * receives then sends. The initiator's output is the time of the n timed
 * round trips (after `warm` untimed ones), in ns. */
struct pp_side {
	rex_shared_tx *tx;
	rex_shared_rx *rx;
	unsigned long long n, warm, i;
	int initiator;
	int phase; /* 0: not connected, 1: send, 2: receive */
	uint64_t item, t0;
	struct rex_shared_send send;
	struct rex_shared_recv recv;
};

static enum rex_poll pp_poll(void *st, struct rex_context *cx)
{
	struct pp_side *p = st;
	int res;

	if (p->phase == 0) {
		if (rex_shared_tx_connect(p->tx) || rex_shared_rx_connect(p->rx)) {
			cx->output = -1;
			return REX_READY;
		}
		p->phase = p->initiator ? 1 : 2;
		if (p->phase == 1)
			rex_shared_send_init(&p->send, p->tx, &p->item);
		else
			rex_shared_recv_init(&p->recv, p->rx, &p->item);
	}
	for (;;) {
		if (p->phase == 1) {
			if (p->initiator && p->i == p->warm)
				p->t0 = mono_ns();
			if (rex_shared_send_poll(&p->send, cx, &res) == REX_PENDING)
				return REX_PENDING;
			if (res)
				goto fail;
			if (!p->initiator && ++p->i == p->n + p->warm)
				goto done;
			p->phase = 2;
			rex_shared_recv_init(&p->recv, p->rx, &p->item);
		} else {
			if (rex_shared_recv_poll(&p->recv, cx, &res) == REX_PENDING)
				return REX_PENDING;
			if (res)
				goto fail;
			if (p->initiator && ++p->i == p->n + p->warm)
				goto done;
			p->phase = 1;
			p->item++;
			rex_shared_send_init(&p->send, p->tx, &p->item);
		}
	}
done:
	cx->output = p->initiator ? (int64_t)(mono_ns() - p->t0) : 0;
	return REX_READY;
fail:
	cx->output = -1;
	return REX_READY;
}

static void pp_drop(void *st)
{
	struct pp_side *p = st;
	if (p->phase == 1)
		rex_shared_send_drop(&p->send);
	else if (p->phase == 2)
		rex_shared_recv_drop(&p->recv);
	rex_shared_tx_close(p->tx);
	rex_shared_rx_close(p->rx);
}
static const struct rex_task_vtable pp_vt = { "bench-pingpong", pp_poll, pp_drop };

static double rep_rex_pingpong(void *arg)
{
	struct pp_arg *a = arg;
	rex_shared_tx *tx_ab, *tx_ba;
	rex_shared_rx *rx_ab, *rx_ba;
	if (rex_shared_chan_new(sizeof(uint64_t), 1, &tx_ab, &rx_ab))
		return -1;
	if (rex_shared_chan_new(sizeof(uint64_t), 1, &tx_ba, &rx_ba)) {
		rex_shared_tx_close(tx_ab);
		rex_shared_rx_close(rx_ab);
		return -1;
	}
	struct pp_side sa = { .tx = tx_ab, .rx = rx_ba, .n = a->n, .warm = a->warm,
			      .initiator = 1 };
	struct pp_side sb = { .tx = tx_ba, .rx = rx_ab, .n = a->n, .warm = a->warm };
	struct rex_config ca, cb;
	rex_config_init(&ca);
	rex_config_init(&cb);
	ca.cpu = a->cpu_a;
	cb.cpu = a->cpu_b;
	rex_thread *ta, *tb;
	if (rex_thread_spawn(&cb, &pp_vt, &sb, sizeof(sb), &tb)) {
		pp_drop(&sa);
		pp_drop(&sb);
		return -1;
	}
	if (rex_thread_spawn(&ca, &pp_vt, &sa, sizeof(sa), &ta)) {
		pp_drop(&sa); /* sb closes its ends, tb then sees -EPIPE */
		rex_thread_join(tb, NULL);
		return -1;
	}
	int64_t oa = -1, ob = -1;
	int ea = rex_thread_join(ta, &oa);
	int eb = rex_thread_join(tb, &ob);
	if (ea || eb || oa <= 0 || ob != 0)
		return -1;
	return (double)oa / (double)a->n;
}

struct raw_pp {
	int efd_ab, efd_ba;
	unsigned long long n, warm;
	int cpu;
	int initiator;
	uint64_t elapsed;
	int err;
};

static void *raw_pp_thread(void *arg)
{
	struct raw_pp *p = arg;
	uint64_t v, t0 = 0;
	cpu_pin_self(p->cpu);
	for (unsigned long long i = 0; i < p->n + p->warm; i++) {
		if (p->initiator) {
			if (i == p->warm)
				t0 = mono_ns();
			if (eventfd_write(p->efd_ab, 1) || eventfd_read(p->efd_ba, &v))
				goto fail;
		} else {
			if (eventfd_read(p->efd_ab, &v) || eventfd_write(p->efd_ba, 1))
				goto fail;
		}
	}
	if (p->initiator)
		p->elapsed = mono_ns() - t0;
	return NULL;
fail:
	p->err = errno ? errno : EIO;
	return NULL;
}

static double rep_raw_pingpong(void *arg)
{
	struct pp_arg *a = arg;
	double ret = -1;
	int ab = eventfd(0, EFD_CLOEXEC), ba = eventfd(0, EFD_CLOEXEC);
	if (ab < 0 || ba < 0)
		goto out;
	struct raw_pp pa = { ab, ba, a->n, a->warm, a->cpu_a, 1, 0, 0 };
	struct raw_pp pb = { ab, ba, a->n, a->warm, a->cpu_b, 0, 0, 0 };
	pthread_t ta, tb;
	if (pthread_create(&tb, NULL, raw_pp_thread, &pb))
		goto out;
	if (pthread_create(&ta, NULL, raw_pp_thread, &pa)) {
		pthread_cancel(tb);
		pthread_join(tb, NULL);
		goto out;
	}
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	if (!pa.err && !pb.err)
		ret = (double)pa.elapsed / (double)a->n;
out:
	if (ab >= 0)
		close(ab);
	if (ba >= 0)
		close(ba);
	return ret;
}

/* ---- exstress_issue448 ---------------------------------------------------------------- */

struct exs_arg {
	const char *bin;
	const char *probe;
	unsigned long long iterations;
	char *err;
	size_t errlen;
};

static double rep_exstress(void *arg)
{
	struct exs_arg *a = arg;
	char iters[32];
	snprintf(iters, sizeof(iters), "%llu", a->iterations);
	char *argv[] = { (char *)a->bin, "--policy", "fixed", "--scenario", "issue448",
			 "--iterations", iters, "--probe", (char *)a->probe,
			 "--quiet", smoke ? "--warmup" : NULL, "10", NULL };
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	uint64_t t0 = mono_ns();
	int err = posix_spawn(&pid, a->bin, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err) {
		snprintf(a->err, a->errlen, "cannot run %s: %s", a->bin, strerror(err));
		return -1;
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	uint64_t t1 = mono_ns();
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		snprintf(a->err, a->errlen, "exstress --probe %s exited with status %d",
			 a->probe, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		return -1;
	}
	return (double)(t1 - t0) / 1e9;
}

/* ---- fdtrack_syscall_overhead ---------------------------------------------------------- */

struct sys_arg {
	unsigned long long n;
	int cpu;
	char *err;
	size_t errlen;
};

/* ns per getppid in a fresh child pinned to one CPU (parent blocks). */
static double syscall_loop(const struct sys_arg *a)
{
	int pfd[2];
	if (pipe(pfd))
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		cpu_pin_self(a->cpu);
		for (int i = 0; i < 20000; i++) /* warm up, migrate */
			syscall(SYS_getppid);
		uint64_t t0 = thread_cpu_ns();
		for (unsigned long long i = 0; i < a->n; i++)
			syscall(SYS_getppid);
		double ns = (double)(thread_cpu_ns() - t0) / (double)a->n;
		ssize_t w = write(pfd[1], &ns, sizeof(ns));
		_exit(w == sizeof(ns) ? 0 : 1);
	}
	close(pfd[1]);
	double ns = -1;
	ssize_t r;
	while ((r = read(pfd[0], &ns, sizeof(ns))) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return r == sizeof(ns) && WIFEXITED(st) && !WEXITSTATUS(st) ? ns : -1;
}

/* Tracing programs (tp_btf, raw tracepoints) loaded by someone else: on a
 * shared machine another fdtrack may be attached, and then "nothing loaded"
 * is not nothing. Counted before the measurement and reported. */
static int other_tracing_programs(void)
{
	__u32 id = 0;
	int n = 0;
	while (bpf_prog_get_next_id(id, &id) == 0) {
		int fd = bpf_prog_get_fd_by_id(id);
		if (fd < 0)
			continue;
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
		    (info.type == BPF_PROG_TYPE_TRACING ||
		     info.type == BPF_PROG_TYPE_RAW_TRACEPOINT ||
		     info.type == BPF_PROG_TYPE_TRACEPOINT))
			n++;
		close(fd);
	}
	return n;
}

static int foreign_bpf = -1; /* other tracing programs at the start of the run */

static struct bench_noop_bpf *noop_skel;
static pid_t watched_pid; /* the idle process fdtrack watches */

static double rep_sys_none(void *arg)
{
	return syscall_loop(arg);
}

static double rep_sys_noop(void *arg)
{
	struct sys_arg *a = arg;
	struct bpf_link *link = bpf_program__attach(noop_skel->progs.bench_noop);
	if (!link) {
		snprintf(a->err, a->errlen, "attaching the no-op tp_btf/sys_exit program: %s",
			 strerror(errno));
		return -1;
	}
	double ns = syscall_loop(a);
	bpf_link__destroy(link);
	return ns;
}

static double rep_sys_fdtrack(void *arg)
{
	struct sys_arg *a = arg;
#ifdef BENCH_NO_FDTRACK
	snprintf(a->err, a->errlen, "built without fdtrack (no bpf/)");
	return -1;
#else
	struct fdtrack *t;
	if (fdtrack_open(watched_pid, NULL, &t)) {
		snprintf(a->err, a->errlen, "%s", fdtrack_error());
		return -1;
	}
	double ns = syscall_loop(a);
	fdtrack_close(t);
	return ns;
#endif
}

static int bench_syscall(struct result *r, int reps, unsigned long long n)
{
	struct sys_arg a = { .n = n, .cpu = ncpus() - 1, .err = r->error,
			     .errlen = sizeof(r->error) };
	int ret = -1;

	noop_skel = bench_noop_bpf__open_and_load();
	if (!noop_skel) {
		snprintf(r->error, sizeof(r->error),
			 "loading the no-op BPF program failed (%s): run as root "
			 "on a kernel with BTF and tp_btf support", strerror(errno));
		return -1;
	}
	foreign_bpf = other_tracing_programs();
	watched_pid = fork();
	if (watched_pid < 0)
		goto out;
	if (watched_pid == 0) {
		for (;;)
			pause();
	}
	/* Three configurations, rotated each repetition. */
	rep_fn fns[3] = { rep_sys_fdtrack, rep_sys_noop, rep_sys_none };
	for (int i = 0; i < reps; i++) {
		for (int k = 0; k < 3; k++) {
			int which = (i + k) % 3;
			double v = fns[which](&a);
			if (v < 0) {
				if (!r->error[0])
					snprintf(r->error, sizeof(r->error), "getppid loop failed");
				goto out;
			}
			if (which == 0)
				r->fig[i] = v;
			else if (which == 1)
				r->base[i] = v;
			else
				r->extra[i] = v;
		}
		r->nrep = r->nextra = i + 1;
		progress(".");
	}
	ret = 0;
out:
	if (watched_pid > 0) {
		kill(watched_pid, SIGKILL);
		waitpid(watched_pid, NULL, 0);
	}
	bench_noop_bpf__destroy(noop_skel);
	noop_skel = NULL;
	return ret;
}

/* ---- output --------------------------------------------------------------------------- */

static double loadavg(void)
{
	double l[1];
	return getloadavg(l, 1) == 1 ? l[0] : NAN;
}

static void read_line(const char *cmd, char *buf, size_t len)
{
	buf[0] = 0;
	FILE *p = popen(cmd, "r");
	if (!p)
		return;
	if (fgets(buf, (int)len, p))
		buf[strcspn(buf, "\n")] = 0;
	pclose(p);
}

static void cpu_model(char *buf, size_t len)
{
	snprintf(buf, len, "unknown");
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "model name", 10) == 0) {
			char *p = strchr(line, ':');
			if (p) {
				p += 1 + strspn(p + 1, " \t");
				p[strcspn(p, "\n")] = 0;
				snprintf(buf, len, "%s", p);
			}
			break;
		}
	}
	fclose(f);
}

static int write_json(const char *path, struct result *rs, int n, double wall_s)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "bench: cannot write %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	struct utsname u;
	uname(&u);
	char cpu[256], commit[128], date[64];
	cpu_model(cpu, sizeof(cpu));
	read_line("git rev-parse --short HEAD 2>/dev/null", commit, sizeof(commit));
	time_t now = time(NULL);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));

	fprintf(f, "{\n  \"machine\": {\"kernel\": ");
	json_str(f, u.release);
	fprintf(f, ", \"arch\": ");
	json_str(f, u.machine);
	fprintf(f, ", \"cpus\": %d, \"cpu_model\": ", ncpus());
	json_str(f, cpu);
	fprintf(f, "},\n  \"date\": ");
	json_str(f, date);
	fprintf(f, ",\n  \"commit\": ");
	json_str(f, commit);
	fprintf(f, ",\n  \"other_tracing_bpf_programs\": %d", foreign_bpf);
	fprintf(f, ",\n  \"load_average_at_end\": ");
	json_num(f, loadavg());
	fprintf(f, ",\n  \"smoke\": %s,\n  \"wall_s\": ", smoke ? "true" : "false");
	json_num(f, wall_s);
	fprintf(f, ",\n  \"results\": [");
	for (int i = 0; i < n; i++) {
		struct result *r = &rs[i];
		fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
		json_str(f, r->name);
		fprintf(f, ", \"unit\": ");
		json_str(f, r->unit);
		fprintf(f, ", \"clock\": ");
		json_str(f, r->clock);
		fprintf(f, ", \"what\": ");
		json_str(f, r->what);
		fprintf(f, ",\n     \"median\": ");
		json_num(f, r->med);
		fprintf(f, ", \"min\": ");
		json_num(f, r->min);
		fprintf(f, ", \"max\": ");
		json_num(f, r->max);
		fprintf(f, ",\n     \"baseline\": ");
		if (r->baseline_what)
			json_str(f, r->baseline_what);
		else
			fputs("null", f);
		fprintf(f, ", \"baseline_median\": ");
		json_num(f, r->bmed);
		fprintf(f, ", \"baseline_min\": ");
		json_num(f, r->bmin);
		fprintf(f, ", \"baseline_max\": ");
		json_num(f, r->bmax);
		fprintf(f, ",\n     \"ratio\": ");
		json_num(f, r->ratio);
		fprintf(f, ", \"paired_ratio_median\": ");
		json_num(f, r->paired_ratio);
		if (r->extra_name) {
			fprintf(f, ",\n     ");
			json_str(f, r->extra_name);
			fprintf(f, ": {\"median\": ");
			json_num(f, r->emed);
			fprintf(f, ", \"min\": ");
			json_num(f, r->emin);
			fprintf(f, ", \"max\": ");
			json_num(f, r->emax);
			fprintf(f, ", \"values\": ");
			json_num_array(f, r->extra, r->nextra);
			fprintf(f, "}");
		}
		fprintf(f, ",\n     \"goal\": ");
		json_str(f, r->goal_text);
		fprintf(f, ", \"goal_met\": %s, \"reps\": %d, \"count_per_rep\": %llu",
			r->met ? "true" : "false", r->nrep, r->count);
		fprintf(f, ",\n     \"values\": ");
		json_num_array(f, r->fig, r->nrep);
		fprintf(f, ", \"baseline_values\": ");
		if (r->baseline_what)
			json_num_array(f, r->base, r->nrep);
		else
			fputs("null", f);
		if (r->error[0]) {
			fprintf(f, ",\n     \"error\": ");
			json_str(f, r->error);
		}
		fprintf(f, "}");
	}
	fprintf(f, "\n  ]\n}\n");
	if (fclose(f) || rename(tmp, path)) {
		fprintf(stderr, "bench: cannot write %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void fmt_num(char *buf, size_t len, double v)
{
	if (isnan(v))
		snprintf(buf, len, "—");
	else if (fabs(v) >= 1e6)
		snprintf(buf, len, "%.3gM", v / 1e6);
	else if (fabs(v) >= 100)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.3g", v);
}

static void print_table(struct result *rs, int n)
{
	printf("| figure | unit | median | min | max | baseline median | ratio | goal | met | clock |\n");
	printf("|---|---|---:|---:|---:|---:|---:|---|---|---|\n");
	for (int i = 0; i < n; i++) {
		struct result *r = &rs[i];
		char med[32], min[32], max[32], bmed[32], ratio[32];
		fmt_num(med, sizeof(med), r->med);
		fmt_num(min, sizeof(min), r->min);
		fmt_num(max, sizeof(max), r->max);
		fmt_num(bmed, sizeof(bmed), r->bmed);
		if (isnan(r->ratio))
			snprintf(ratio, sizeof(ratio), "—");
		else
			snprintf(ratio, sizeof(ratio), "%.3f", r->ratio);
		printf("| `%s` | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r->name,
		       r->unit, med, min, max, bmed, ratio, r->goal_text,
		       r->error[0] ? "error" : r->met ? "yes" : "**no**", r->clock);
	}
	for (int i = 0; i < n; i++) {
		struct result *r = &rs[i];
		if (r->extra_name && r->nextra) {
			char med[32], min[32], max[32];
			fmt_num(med, sizeof(med), r->emed);
			fmt_num(min, sizeof(min), r->emin);
			fmt_num(max, sizeof(max), r->emax);
			printf("\n`%s`, %s: median %s %s (min %s, max %s); no-op floor %.3g, "
			       "fdtrack %.3g: the floor costs %+.0f%%, fdtrack %+.0f%% over it.\n",
			       r->name, r->extra_name, med, r->unit, min, max, r->bmed,
			       r->med, (r->bmed / r->emed - 1) * 100,
			       (r->med / r->bmed - 1) * 100);
		}
	}
	if (foreign_bpf > 0)
		printf("\nNote: %d tracing BPF program(s) of other processes were loaded "
		       "during the syscall figure (another fdtrack?): \"nothing loaded\" "
		       "and the floor include them.\n", foreign_bpf);
	printf("\nLoad average at the end: %.2f on %d CPUs.\n", loadavg(), ncpus());
	int missed = 0;
	for (int i = 0; i < n; i++)
		if (!rs[i].met && !rs[i].error[0])
			missed++;
	printf("\n");
	if (missed) {
		printf("Goals missed (%d):", missed);
		for (int i = 0; i < n; i++)
			if (!rs[i].met && !rs[i].error[0])
				printf(" `%s`", rs[i].name);
		printf("\n");
	} else {
		printf("Every measured goal met.\n");
	}
	for (int i = 0; i < n; i++)
		if (rs[i].error[0])
			printf("Not measured: `%s`: %s\n", rs[i].name, rs[i].error);
}

/* ---- main ------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: bench [--smoke] [--json FILE] [--reps N] [--only NAME[,NAME...]]\n"
"             [--exstress PATH] [--list]\n"
"  --smoke       tiny counts, one repetition (seconds; for make check)\n"
"  --json FILE   write the results as JSON\n"
"  --reps N      repetitions of each figure and of its baseline\n"
"  --only NAMES  run only these figures (comma separated)\n"
"  --exstress P  the exstress binary (default " BENCH_EXSTRESS ")\n"
"  --list        list the figures\n");
}

static const char *const names[] = {
	"executor_cycle", "executor_cycle_thread", "spawn_complete", "local_wake",
	"foreign_pingpong", "exstress_issue448", "fdtrack_syscall_overhead",
};

int main(int argc, char **argv)
{
	const char *json = NULL, *exstress = BENCH_EXSTRESS;
	int user_reps = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--smoke") == 0)
			smoke = true;
		else if (strcmp(a, "--json") == 0 && i + 1 < argc)
			json = argv[++i];
		else if (strcmp(a, "--reps") == 0 && i + 1 < argc)
			user_reps = atoi(argv[++i]);
		else if (strcmp(a, "--only") == 0 && i + 1 < argc)
			only = argv[++i];
		else if (strcmp(a, "--exstress") == 0 && i + 1 < argc)
			exstress = argv[++i];
		else if (strcmp(a, "--list") == 0) {
			for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
				printf("%s\n", names[k]);
			return 0;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "bench: unknown or incomplete option '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (user_reps < 0 || user_reps > MAX_REPS) {
		fprintf(stderr, "bench: --reps must be 1..%d\n", MAX_REPS);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	libbpf_set_print(NULL);

	/* Single-threaded figures run on the last CPU (the ping-pong pins its
	 * own two threads, the getppid child pins itself). */
	int last = ncpus() - 1;
	struct result rs[8];
	int nr = 0;
	uint64_t start = mono_ns();

	if (selected("executor_cycle")) {
		struct result *r = &rs[nr++];
		*r = (struct result){ .name = "executor_cycle", .unit = "ns/cycle",
			.what = "rex_executor_new + run an empty root task + rex_executor_free, calling thread",
			.baseline_what = "eventfd + io_uring_queue_init(256) + close + io_uring_queue_exit",
			.goal_kind = GOAL_RATIO_MAX, .goal_value = 1.2, .goal_text = "ratio <= 1.2",
			.clock = "thread-cpu" };
		struct cycle_arg a = { .n = smoke ? 20 : 400 };
		r->count = a.n;
		progress("%-26s", r->name);
		cpu_pin_self(last);
		rep_rex_cycle(&(struct cycle_arg){ smoke ? 2 : 200 }); /* warm-up */
		rep_raw_cycle(&(struct cycle_arg){ smoke ? 2 : 200 });
		interleave(r, reps_for(15, user_reps), rep_rex_cycle, &a, rep_raw_cycle, &a);
		progress("\n");
	}
	if (selected("executor_cycle_thread")) {
		struct result *r = &rs[nr++];
		*r = (struct result){ .name = "executor_cycle_thread", .unit = "ns/cycle",
			.what = "rex_thread_spawn (new, run empty root, free) + rex_thread_join",
			.baseline_what = "pthread_create + (eventfd + io_uring_queue_init(256) + close + io_uring_queue_exit) + pthread_join",
			.goal_kind = GOAL_RATIO_MAX, .goal_value = 1.2, .goal_text = "ratio <= 1.2",
			.clock = "wall" };
		struct cycle_arg a = { .n = smoke ? 20 : 250 };
		r->count = a.n;
		progress("%-26s", r->name);
		cpu_pin_self(last);
		rep_rex_cycle_thread(&(struct cycle_arg){ smoke ? 2 : 100 });
		rep_raw_cycle_thread(&(struct cycle_arg){ smoke ? 2 : 100 });
		interleave(r, reps_for(15, user_reps), rep_rex_cycle_thread, &a,
			   rep_raw_cycle_thread, &a);
		progress("\n");
	}
	if (selected("spawn_complete")) {
		struct result *r = &rs[nr++];
		*r = (struct result){ .name = "spawn_complete", .unit = "tasks/s",
			.what = "rex_spawn a trivial task (batches of 1024) and run it to completion, one executor, one core",
			.goal_kind = GOAL_MEDIAN_MIN, .goal_value = 10e6,
			.goal_text = ">= 10M tasks/s", .clock = "thread-cpu" };
		struct rate_arg a = { .n = smoke ? 20000 : 1000000 };
		r->count = a.n;
		progress("%-26s", r->name);
		cpu_pin_self(last);
		rep_spawn_complete(&(struct rate_arg){ smoke ? 1000 : 100000 });
		interleave(r, reps_for(7, user_reps), rep_spawn_complete, &a, NULL, NULL);
		progress("\n");
	}
	if (selected("local_wake")) {
		struct result *r = &rs[nr++];
		*r = (struct result){ .name = "local_wake", .unit = "wakes/s",
			.what = "a task wakes itself (rex_waker_wake_by_ref) on its own executor and is re-polled",
			.goal_kind = GOAL_MEDIAN_MIN, .goal_value = 20e6,
			.goal_text = ">= 20M wakes/s", .clock = "thread-cpu" };
		struct rate_arg a = { .n = smoke ? 100000 : 5000000 };
		r->count = a.n;
		progress("%-26s", r->name);
		cpu_pin_self(last);
		rep_local_wake(&(struct rate_arg){ smoke ? 1000 : 500000 });
		interleave(r, reps_for(7, user_reps), rep_local_wake, &a, NULL, NULL);
		progress("\n");
	}
	/* Multi-threaded from here on: let the main thread float again. */
	{
		cpu_set_t all;
		CPU_ZERO(&all);
		for (int c = 0; c < ncpus() && c < CPU_SETSIZE; c++)
			CPU_SET(c, &all);
		pthread_setaffinity_np(pthread_self(), sizeof(all), &all);
	}
	if (selected("foreign_pingpong")) {
		struct result *r = &rs[nr++];
		*r = (struct result){ .name = "foreign_pingpong", .unit = "ns/round-trip",
			.what = "two executors on two threads (pinned to 2 CPUs), a round trip over two shared channels",
			.baseline_what = "two threads (same pinning) ping-ponging blocking eventfd write/read",
			.goal_kind = GOAL_RATIO_MAX, .goal_value = 1.5, .goal_text = "ratio <= 1.5",
			.clock = "wall" };
		struct pp_arg a = { .n = smoke ? 500 : 10000, .warm = smoke ? 50 : 500,
				    .cpu_a = 0, .cpu_b = ncpus() > 1 ? 1 : 0 };
		r->count = a.n;
		progress("%-26s", r->name);
		interleave(r, reps_for(7, user_reps), rep_rex_pingpong, &a, rep_raw_pingpong, &a);
		progress("\n");
	}
	if (selected("exstress_issue448")) {
		struct result *r = &rs[nr++];
		*r = (struct result){ .name = "exstress_issue448", .unit = "s",
			.what = "build/bin/exstress --scenario issue448 --iterations 10000 --probe require --quiet (wall)",
			.baseline_what = "the same with --probe off",
			.goal_kind = GOAL_RATIO_MAX, .goal_value = 1.05, .goal_cap = 20,
			.goal_text = "ratio <= 1.05 and < 20 s", .clock = "wall" };
		struct exs_arg on = { exstress, "require", smoke ? 200 : 10000, r->error,
				      sizeof(r->error) };
		struct exs_arg off = on;
		off.probe = "off";
		r->count = on.iterations;
		progress("%-26s", r->name);
		interleave(r, reps_for(3, user_reps), rep_exstress, &on, rep_exstress, &off);
		progress("\n");
	}
	if (selected("fdtrack_syscall_overhead")) {
		struct result *r = &rs[nr++];
		*r = (struct result){ .name = "fdtrack_syscall_overhead", .unit = "ns/syscall",
			.what = "getppid loop in a child pinned to one CPU while fdtrack watches another (idle) pid",
			.baseline_what = "the same loop while one no-op tp_btf/sys_exit program is attached",
			.goal_kind = GOAL_RATIO_MAX, .goal_value = 1.10,
			.goal_text = "ratio <= 1.10 vs no-op floor",
			.extra_name = "nothing_loaded", .clock = "thread-cpu" };
		unsigned long long n = smoke ? 20000 : 1000000;
		r->count = n;
		progress("%-26s", r->name);
		bench_syscall(r, reps_for(5, user_reps), n);
		progress("\n");
	}
	if (nr == 0) {
		fprintf(stderr, "bench: --only '%s' matches no figure (see --list)\n", only);
		return 2;
	}

	double wall = (double)(mono_ns() - start) / 1e9;
	int errors = 0;
	for (int i = 0; i < nr; i++) {
		finish(&rs[i]);
		errors += rs[i].error[0] != 0;
	}
	print_table(rs, nr);
	printf("\n%s, %d CPUs, %.1f s%s.\n", "bench", ncpus(), wall,
	       smoke ? " (smoke: tiny counts, 1 repetition; not a measurement)" : "");
	if (json && write_json(json, rs, nr, wall))
		return 1;
	return errors ? 1 : 0;
}
