/*
 * The runtime under test. rex runs through the scenario runner (runner.c:
 * its scenarios pair executors over channels, which one loop per thread
 * cannot express); every other runtime through its adapter (adapter.h),
 * driven here: K loops, each on a thread of its own, create, park, (wake
 * from this thread), turn, tear down, join. Both sit behind the same
 * exs_target_* calls, so run.c samples and judges them alike.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "target.h"

/* Each loop's thread runs on a stack of ours, the same one every
 * iteration: glibc frees the thread-local blocks of dlopen'd modules
 * (tokio's) at the join of a thread on a stack it was given, but keeps
 * them on the stacks it caches itself and frees them only when it reuses
 * one, which made the exact heap count jitter by a block now and then. */
#define LOOP_STACK (8u << 20)
#define LOOP_GUARD (64u << 10)

struct slot {
	struct exs_target *t;
	unsigned index;
	pthread_t thread;
	void *stack; /* LOOP_GUARD then LOOP_STACK, mmap'd */
	void *loop;
	unsigned plan[EXS_PARK_COUNT];
	int err;
	const char *what;
};

struct exs_target {
	const struct exs_adapter *a; /* NULL: rex */
	struct exs_runner *rex;
	void *dl; /* a plugin's handle */
	enum exs_teardown how;
	unsigned k, m;
	uint64_t seed;
	int pipe_rd, pipe_wr;
	struct slot *slots;
	uint64_t parked;
	/* the loops' threads wait here, all parked, for the wakes */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned ready;
	int go;
	char label[96];
};

/* What a loop scenario parks: one kind (EXS_PARK_COUNT for idle and
 * mixed); -1 for the scenarios only rex has. */
static int loop_scenario(enum exs_scenario sc, enum exs_park *kind)
{
	*kind = EXS_PARK_COUNT;
	switch (sc) {
	case EXS_SC_IDLE:
	case EXS_SC_MIXED:
		return 0;
	case EXS_SC_TIMERS:
		*kind = EXS_PARK_TIMER;
		return 0;
	case EXS_SC_IO:
		*kind = EXS_PARK_FD;
		return 0;
	case EXS_SC_FOREIGN_WAKERS:
		*kind = EXS_PARK_WAKE;
		return 0;
	case EXS_SC_ISSUE448: /* issue 448's receivers: on a queue */
		*kind = EXS_PARK_QUEUE;
		return 0;
	default:
		return -1;
	}
}

int exs_target_supports(const struct exs_target *t, enum exs_scenario sc)
{
	enum exs_park kind;

	if (!t->a)
		return 1;
	if (loop_scenario(sc, &kind))
		return 0;
	if (sc == EXS_SC_MIXED)
		return t->a->kinds != 0;
	return kind == EXS_PARK_COUNT ||
	       (t->a->kinds & EXS_PARK_MASK(kind)) != 0;
}

const char *exs_target_label(const struct exs_target *t)
{
	return t->label;
}

/* ---- one loop's thread ------------------------------------------------- */

static void *loop_thread(void *arg)
{
	struct slot *s = arg;
	struct exs_target *t = s->t;
	const struct exs_adapter *a = t->a;
	struct exs_loop_env env = { .idle_fd = t->pipe_rd, .index = s->index };
	int err = 0;

	s->loop = a->loop_new(&env, &err);
	if (!s->loop) {
		s->err = err ? err : -ENOMEM;
		s->what = "creating the loop";
	}
	for (int k = 0; k < EXS_PARK_COUNT && !s->err; k++)
		for (unsigned n = 0; n < s->plan[k] && !s->err; n++)
			if ((err = a->park(s->loop, (enum exs_park)k))) {
				s->err = err;
				s->what = "parking a task";
			}
	pthread_mutex_lock(&t->mu);
	t->ready++;
	pthread_cond_broadcast(&t->cv);
	while (!t->go)
		pthread_cond_wait(&t->cv, &t->mu);
	pthread_mutex_unlock(&t->mu);
	if (!s->loop)
		return NULL;
	if (!s->err && (err = a->turn(s->loop))) {
		s->err = err;
		s->what = "running a turn";
	}
	a->teardown(s->loop, t->how);
	return NULL;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void plan_loops(struct exs_target *t, enum exs_scenario sc,
		       uint64_t iteration)
{
	uint64_t rng = t->seed ^ (iteration * 0xd1b54a32d192ed03ull);
	enum exs_park offered[EXS_PARK_COUNT], kind;
	unsigned n = 0;

	for (int k = 0; k < EXS_PARK_COUNT; k++)
		if (t->a->kinds & EXS_PARK_MASK(k))
			offered[n++] = (enum exs_park)k;
	loop_scenario(sc, &kind);
	for (unsigned i = 0; i < t->k; i++) {
		struct slot *s = &t->slots[i];
		memset(s->plan, 0, sizeof(s->plan));
		s->err = 0;
		s->what = "";
		if (sc == EXS_SC_MIXED && n)
			for (unsigned j = 0; j < t->m; j++)
				s->plan[offered[splitmix64(&rng) % n]]++;
		else if (kind != EXS_PARK_COUNT)
			s->plan[kind] = t->m;
	}
}

static void describe(int err, const char *what, char *msg, size_t len)
{
	struct rlimit rl;

	if ((err == -EMFILE || err == -ENFILE) &&
	    getrlimit(RLIMIT_NOFILE, &rl) == 0)
		snprintf(msg, len, "%s: %s (RLIMIT_NOFILE=%llu)", what,
			 strerror(-err), (unsigned long long)rl.rlim_cur);
	else
		snprintf(msg, len, "%s: %s", what, strerror(-err));
}

static int loops_iteration(struct exs_target *t, enum exs_scenario sc,
			   uint64_t iteration, char *msg, size_t len)
{
	unsigned started = 0;
	int err = 0;
	char what[128] = "";

	plan_loops(t, sc, iteration);
	/* the loops wait for the main thread only when it has wakes to send */
	t->ready = 0;
	t->go = 1;
	for (unsigned i = 0; i < t->k; i++)
		if (t->slots[i].plan[EXS_PARK_WAKE])
			t->go = 0;
	for (; started < t->k; started++) {
		struct slot *s = &t->slots[started];
		pthread_attr_t attr;
		int rc = pthread_attr_init(&attr);
		if (!rc)
			rc = pthread_attr_setstack(&attr,
						   (char *)s->stack +
							   LOOP_GUARD,
						   LOOP_STACK);
		if (!rc)
			rc = pthread_create(&s->thread, &attr, loop_thread, s);
		pthread_attr_destroy(&attr);
		if (rc) {
			err = -rc;
			snprintf(what, sizeof(what), "starting loop thread %u",
				 started);
			break;
		}
	}
	/* Wakes: once every loop has parked its tasks (and waits), wake them
	 * from this thread. Without, the loops never wait and this thread
	 * touches no slot until it joined its thread. */
	if (!t->go) {
		pthread_mutex_lock(&t->mu);
		while (t->ready < started)
			pthread_cond_wait(&t->cv, &t->mu);
		pthread_mutex_unlock(&t->mu);
		for (unsigned i = 0; i < started; i++)
			if (t->slots[i].loop && !t->slots[i].err &&
			    t->slots[i].plan[EXS_PARK_WAKE] && t->a->wake)
				t->a->wake(t->slots[i].loop);
		pthread_mutex_lock(&t->mu);
		t->go = 1;
		pthread_cond_broadcast(&t->cv);
		pthread_mutex_unlock(&t->mu);
	}
	for (unsigned i = 0; i < started; i++) {
		struct slot *s = &t->slots[i];
		pthread_join(s->thread, NULL);
		if (s->err && !err) {
			err = s->err;
			snprintf(what, sizeof(what), "%s, loop %u: %s",
				 t->a->name, i, s->what);
		}
		for (int k = 0; k < EXS_PARK_COUNT && !s->err; k++)
			t->parked += s->plan[k];
	}
	if (err)
		describe(err, what, msg, len);
	return err;
}

int exs_target_iteration(struct exs_target *t, enum exs_scenario sc,
			 uint64_t iteration, char *msg, size_t len)
{
	if (!t->a)
		return exs_runner_iteration(t->rex, sc, iteration, msg, len);
	return loops_iteration(t, sc, iteration, msg, len);
}

uint64_t exs_target_take_parked(struct exs_target *t)
{
	uint64_t n;

	if (!t->a)
		return exs_runner_take_parked(t->rex);
	n = t->parked;
	t->parked = 0;
	return n;
}

const struct exs_adapter *exs_target_adapter(const struct exs_target *t,
					     int *idle_fd)
{
	*idle_fd = t->pipe_rd;
	return t->a;
}

void exs_target_free(struct exs_target *t)
{
	if (!t)
		return;
	exs_runner_free(t->rex);
	if (t->pipe_rd >= 0)
		close(t->pipe_rd);
	if (t->pipe_wr >= 0)
		close(t->pipe_wr);
	if (t->a) {
		pthread_mutex_destroy(&t->mu);
		pthread_cond_destroy(&t->cv);
	}
	for (unsigned i = 0; t->slots && i < t->k; i++)
		if (t->slots[i].stack)
			munmap(t->slots[i].stack, LOOP_GUARD + LOOP_STACK);
	free(t->slots);
	if (t->dl)
		dlclose(t->dl);
	free(t);
}

/* ---- opening ------------------------------------------------------------ */

/* TSan refuses to see a library it ignores unloaded (the suppression at
 * the end of this file): in TSan builds the modules stay. */
#ifdef __SANITIZE_THREAD__
#define DL_KEEP RTLD_NODELETE
#else
#define DL_KEEP 0
#endif

/* A plugin: PATH.so defining exs_adapter with our ABI. */
static int load_plugin(struct exs_target *t, const char *path, char *msg,
		       size_t len)
{
	const struct exs_adapter *a;

	if (!(t->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | DL_KEEP))) {
		snprintf(msg, len, "--runtime %s: cannot load it: %s", path,
			 dlerror());
		return -ENOENT;
	}
	if (!(a = dlsym(t->dl, EXS_ADAPTER_SYMBOL))) {
		snprintf(msg, len,
			 "--runtime %s: defines no '%s' (see harness/adapter.h)",
			 path, EXS_ADAPTER_SYMBOL);
		return -EINVAL;
	}
	if (a->abi != EXS_ADAPTER_ABI) {
		snprintf(msg, len,
			 "--runtime %s: adapter ABI %u, this exstress speaks ABI %u: "
			 "rebuild it against this harness/adapter.h",
			 path, (unsigned)a->abi, (unsigned)EXS_ADAPTER_ABI);
		return -EINVAL;
	}
	if (!a->name || !a->loop_new || !a->park || !a->turn || !a->teardown ||
	    ((a->kinds & EXS_PARK_MASK(EXS_PARK_WAKE)) && !a->wake)) {
		snprintf(msg, len,
			 "--runtime %s: its adapter lacks name, loop_new, park, turn, "
			 "teardown or (offering wakes) wake",
			 path);
		return -EINVAL;
	}
	t->a = a;
	return 0;
}

/* The built-in adapters: modules beside exstress (harness/build.mk),
 * loaded as plugins are, from ../lib/exstress/ of the executable's
 * directory; the package each needs, and what must be in the environment
 * before its library's constructor runs. */
static const struct builtin {
	const char *name, *package, *env, *value;
} builtins[] = {
	{ "libuv", "libuv1-dev", NULL, NULL },
	{ "libevent", "libevent-dev", NULL, NULL },
	{ "glib", "libglib2.0-dev", "G_SLICE", "always-malloc" },
	{ "tokio", "librust-tokio-dev and cargo", NULL, NULL },
};

static int load_builtin(struct exs_target *t, const struct builtin *b,
			char *msg, size_t len)
{
	char exe[PATH_MAX], path[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0) {
		snprintf(msg, len, "--runtime %s: reading /proc/self/exe: %s",
			 b->name, strerror(errno));
		return -errno;
	}
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')))
		*slash = '\0';
	snprintf(path, sizeof(path), "%s/../lib/exstress/%s.so", exe, b->name);
	if (access(path, R_OK) != 0) {
		snprintf(msg, len,
			 "--runtime %s: %s is missing: build it with make (it "
			 "needs %s: scripts/deps.sh installs it)",
			 b->name, path, b->package);
		return -ENOENT;
	}
	if (b->env && setenv(b->env, b->value, 0) != 0) {
		snprintf(msg, len, "--runtime %s: setting %s: %s", b->name,
			 b->env, strerror(errno));
		return -errno;
	}
	return load_plugin(t, path, msg, len);
}

static int find_adapter(struct exs_target *t, const char *name, char *msg,
			size_t len)
{
	char names[128] = "rex";

	if (strchr(name, '/'))
		return load_plugin(t, name, msg, len);
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		if (strcmp(name, builtins[i].name) == 0)
			return load_builtin(t, &builtins[i], msg, len);
		snprintf(names + strlen(names), sizeof(names) - strlen(names),
			 ", %s", builtins[i].name);
	}
	snprintf(msg, len,
		 "--runtime: unknown runtime '%s' (%s, or a plugin's path, "
		 "e.g. ./myloop.so)",
		 name, names);
	return -EINVAL;
}

/* A pipe nobody writes (EXS_PARK_FD) and the loops' slots. */
static int loops_open(struct exs_target *t, const struct exs_options *o,
		      char *msg, size_t len)
{
	int p[2], rc;

	t->k = o->executors;
	t->m = o->tasks;
	t->seed = o->seed;
	t->how = (enum exs_teardown)o->teardown;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	if (pipe2(p, O_CLOEXEC) < 0) {
		rc = -errno;
		describe(rc, "creating the pipe", msg, len);
		return rc;
	}
	t->pipe_rd = p[0];
	t->pipe_wr = p[1];
	if (!(t->slots = calloc(t->k, sizeof(*t->slots)))) {
		snprintf(msg, len, "allocating the loops' slots: %s",
			 strerror(ENOMEM));
		return -ENOMEM;
	}
	for (unsigned i = 0; i < t->k; i++) {
		struct slot *sl = &t->slots[i];
		void *st = mmap(NULL, LOOP_GUARD + LOOP_STACK,
				PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK |
					MAP_NORESERVE,
				-1, 0);
		sl->t = t;
		sl->index = i;
		if (st == MAP_FAILED ||
		    mprotect(st, LOOP_GUARD, PROT_NONE) != 0) {
			rc = -errno;
			if (st != MAP_FAILED)
				munmap(st, LOOP_GUARD + LOOP_STACK);
			describe(rc, "mapping the loops' stacks", msg, len);
			return rc;
		}
		sl->stack = st;
	}
	if (t->a->init && (rc = t->a->init(msg, len)))
		return rc;
	/* One iteration before the baseline, torn down correctly: the
	 * runtime's process-wide state (libuv's signal pipe, GLib's tables;
	 * freed when exstress unloads the module) and glibc's malloc arenas
	 * for K threads at once are made now. */
	t->how = EXS_TEARDOWN_CORRECT;
	if ((rc = loops_iteration(t, EXS_SC_MIXED, 0, msg, len)))
		return rc;
	t->how = (enum exs_teardown)o->teardown;
	t->parked = 0;
	snprintf(t->label, sizeof(t->label), "%s:%s", t->a->name,
		 t->how == EXS_TEARDOWN_CARELESS ? "careless" : "correct");
	return 0;
}

static void scenario_list(const struct exs_target *t, char *buf, size_t len)
{
	buf[0] = '\0';
	for (int sc = 0; sc < EXS_SC_COUNT; sc++)
		if (exs_target_supports(t, (enum exs_scenario)sc))
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
				 buf[0] ? ", " : "",
				 exs_scenario_name((enum exs_scenario)sc));
}

int exs_target_open(const struct exs_options *o, struct exs_target **out,
		    char *msg, size_t len)
{
	struct exs_target *t = calloc(1, sizeof(*t));
	const char *what = "";
	char list[256];
	int rc;

	*out = NULL;
	if (!t) {
		snprintf(msg, len, "out of memory");
		return -ENOMEM;
	}
	t->pipe_rd = t->pipe_wr = -1;
	if (exs_runtime_is_rex(o)) {
		if (o->teardown_set) {
			snprintf(msg, len,
				 "--teardown is for event-loop runtimes; rex's "
				 "teardowns are its drop policies (--policy)");
			rc = -EINVAL;
			goto fail;
		}
		struct exs_runner_config rcfg = {
			.policy = o->policy,
			.executors = o->executors,
			.tasks = o->tasks,
			.seed = o->seed,
		};
		snprintf(t->label, sizeof(t->label), "%s",
			 rex_policy_name(o->policy));
		if ((rc = exs_runner_new(&rcfg, &t->rex, &what))) {
			describe(rc, what, msg, len);
			goto fail;
		}
		*out = t;
		return 0;
	}
	if ((rc = find_adapter(t, o->runtime, msg, len)))
		goto fail;
	if (o->policy_set) {
		snprintf(msg, len,
			 "--policy is rex's; for --runtime %s give --teardown "
			 "correct|careless",
			 t->a->name);
		rc = -EINVAL;
		goto fail;
	}
	if (o->scenario != EXS_SC_ALL && !exs_target_supports(t, o->scenario)) {
		scenario_list(t, list, sizeof(list));
		snprintf(
			msg, len,
			"--runtime %s has no scenario '%s' (it runs %s, or all)",
			t->a->name, exs_scenario_name(o->scenario), list);
		rc = -EINVAL;
		goto fail;
	}
	if ((rc = loops_open(t, o, msg, len)))
		goto fail;
	*out = t;
	return 0;
fail:
	exs_target_free(t);
	return rc;
}

#ifdef __SANITIZE_THREAD__
/* TSan builds: libuv closes fds with a raw close syscall TSan does not see
 * (uv__close_nocancel), so every fd number it reuses looked like a race
 * between two loops' threads. Its interceptors are ignored. */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
	return "called_from_lib:libuv.so.1\n";
}
#endif
