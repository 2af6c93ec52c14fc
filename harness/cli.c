/* Command line: every bad value gets one line saying what was wrong. */
#include "exstress.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *const sc_names[EXS_SC_COUNT + 1] = {
	[EXS_SC_IDLE] = "idle",
	[EXS_SC_ISSUE448] = "issue448",
	[EXS_SC_TIMERS] = "timers",
	[EXS_SC_IO] = "io",
	[EXS_SC_JOINS] = "joins",
	[EXS_SC_FOREIGN_WAKERS] = "foreign-wakers",
	[EXS_SC_SPAWN_IN_DROP] = "spawn-in-drop",
	[EXS_SC_MIXED] = "mixed",
	[EXS_SC_LONG_LIVED] = "long-lived",
	[EXS_SC_THREAD_LOCAL] = "thread-local",
	[EXS_SC_ALL] = "all",
};

const char *exs_scenario_name(enum exs_scenario sc)
{
	return (unsigned)sc <= EXS_SC_ALL ? sc_names[sc] : "?";
}

int exs_scenario_parse(const char *name, enum exs_scenario *out)
{
	for (int i = 0; i <= EXS_SC_ALL; i++) {
		if (strcmp(name, sc_names[i]) == 0) {
			*out = (enum exs_scenario)i;
			return 0;
		}
	}
	return -1;
}

void exs_usage(FILE *out)
{
	char s[32], g[32], f[32];
	struct exs_limits l;
	exs_limits_default(&l);
	exs_fmt_bytes(l.vsz_slope, s, sizeof(s));
	exs_fmt_bytes(l.vsz_growth, g, sizeof(g));
	exs_fmt_bytes(l.slope_floor, f, sizeof(f));
	fprintf(out,
		"usage: exstress [options]\n"
		"Create and destroy rex executors over and over; after every iteration count\n"
		"the process's fds by kind, its live heap (exactly), VSZ and RSS, and\n"
		"fdtrack's opens and closes; say whether anything grew.\n"
		"\n"
		"  --scenario NAME     all | idle | issue448 | timers | io | joins |\n"
		"                      foreign-wakers | spawn-in-drop | mixed   (default issue448)\n"
		"                      | long-lived | thread-local: issue448's work on executors\n"
		"                      kept across iterations (the seed's workarounds; not in all)\n"
		"  --runtime R         rex | libuv | libevent | glib | tokio | PATH.so (a plugin:\n"
		"                      see harness/adapter.h)                      (default rex)\n"
		"  --teardown T        correct | careless: an event loop's teardown, not rex's\n"
		"                      (default correct; other runtimes run `all` by default)\n"
		"  --policy P          fixed | legacy-448 (the glommio #448 bug) | close-eventfd |\n"
		"                      weak-notifier (the seed's options B and C, for comparison)\n"
		"                      | glommio-448 | glommio-fixed (glommio 0.6's executor:\n"
		"                      its blocking thread, rings and I/O memory too)\n"
		"                                                                  (default fixed)\n"
		"  --iterations N      measured iterations per scenario            (default 1000)\n"
		"  --duration SECONDS  run each scenario this long instead of N iterations (not\n"
		"                      with --iterations)\n"
		"  --warmup W          iterations before the reference sample      (default 50)\n"
		"  --executors K       executors (threads) per iteration           (default 2)\n"
		"  --tasks M           parked tasks per executor                   (default 4)\n"
		"  --seed S            seed of the `mixed` scenario                (default 1)\n"
		"  --probe MODE        auto | require | off: fdtrack (eBPF); auto falls back to\n"
		"                      /proc only and says why                     (default auto)\n"
		"  --csv FILE          one row per sample (columns: harness/README.md)\n"
		"  --sample-every N    CSV rows for every Nth iteration only (plus baseline,\n"
		"                      reference and last); the verdict uses every sample\n"
		"  --json FILE         summary; --junit FILE: JUnit XML, a test case per scenario\n"
		"                      (FILE: a file is replaced when the run is over; a device,\n"
		"                      a FIFO, - or /dev/stdout is written in place)\n"
		"  --vsz-slope-limit B, --rss-slope-limit B   bytes/iteration     (default %s)\n"
		"  --vsz-growth-limit B, --rss-growth-limit B bytes in total       (default %s)\n"
		"  --slope-floor B     a slope fails only once memory grew by more (default %s)\n"
		"  --heap on|off       count the process's heap exactly (malloc & co.): any\n"
		"                      growth is a leak                            (default on)\n"
		"  --heap-stacks W     window | all | off: which measured iterations record the\n"
		"                      stack of every allocation, for the leak report: the first\n"
		"                      and last 32 (window), all (slower), none    (default window)\n"
		"  --quiet             no progress line and no pass summaries (a leak's report\n"
		"                      and, with several scenarios, the final line stay)\n"
		"  --verbose           also print the fd census at start and at exit\n"
		"  --help\n"
		"  --version           print exstress's version\n"
		"\n"
		"Verdict, per scenario, against the sample taken right after warm-up: every fd\n"
		"kind and the heap (live bytes and allocations) equal it exactly after every\n"
		"iteration; fdtrack opens = closes (+ closes done outside syscalls); VSZ and RSS\n"
		"least-squares slopes and total growth stay under the limits.\n"
		"With --scenario all, a scenario whose fd leak is established stops at its\n"
		"share of the fd limit (at most 512 fds), so the others still run.\n"
		"Exit 0 pass, 1 leak, 2 usage or environment error;\n"
		"SIGINT/SIGTERM/SIGHUP stop the run, write the outputs over the samples\n"
		"taken (\"interrupted\": true) and exit 130/143/129; a second signal stops\n"
		"it outright, still writing every output. Numbers are decimal.\n"
		"%s",
		s, g, f,
		EXS_SANITIZED
			? "This is a sanitizer build: memory limits are off unless given, and\n"
			  "the heap is not counted (the sanitizer owns malloc).\n"
			: "");
}

static void fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	/* One line, whatever the argument held (found by fuzz_args). */
	for (char *p = err; len && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

/* Unsigned decimal in [min, max]; rejects sign, junk and overflow. */
static int parse_u64(const char *opt, const char *val, uint64_t min,
		     uint64_t max, uint64_t *out, char *err, size_t len)
{
	if (*val == '-') {
		fail(err, len, "%s: '%s' must not be negative", opt, val);
		return -1;
	}
	if (*val < '0' || *val > '9') {
		fail(err, len, "%s: '%s' is not a number", opt, val);
		return -1;
	}
	errno = 0;
	char *end;
	unsigned long long v = strtoull(val, &end, 10);
	if (*end != '\0') {
		fail(err, len, "%s: '%s' is not a number", opt, val);
		return -1;
	}
	if (errno == ERANGE || v > max) {
		fail(err, len, "%s: '%s' is too large (at most %" PRIu64 ")",
		     opt, val, max);
		return -1;
	}
	if (v < min) {
		fail(err, len, "%s: '%s' is too small (at least %" PRIu64 ")",
		     opt, val, min);
		return -1;
	}
	*out = v;
	return 0;
}

/* A decimal (or strtod) number in [min, max]; with positive set, zero is
 * refused too. Rejects sign, junk, NaN, infinities and under/overflow. */
static int parse_double(const char *opt, const char *val, int positive,
			double min, double max, double *out, char *err,
			size_t len)
{
	if (*val == '-') {
		fail(err, len, "%s: '%s' must not be negative", opt, val);
		return -1;
	}
	errno = 0;
	char *end;
	double v = strtod(val, &end);
	/* plain decimals only: no hex, "inf", "nan" or blanks */
	if (end == val || *end != '\0' || isnan(v) ||
	    val[strspn(val, "0123456789.eE+-")] != '\0') {
		fail(err, len, "%s: '%s' is not a number", opt, val);
		return -1;
	}
	if ((errno == ERANGE && v > 1) || v > max) {
		fail(err, len, "%s: '%s' is too large (at most %g)", opt, val,
		     max);
		return -1;
	}
	if (positive && v <= 0) {
		fail(err, len, "%s: '%s' must be greater than 0", opt, val);
		return -1;
	}
	if (errno == ERANGE || v < min) { /* underflow: ERANGE with v <= 1 */
		fail(err, len, "%s: '%s' is too small (at least %g)", opt, val,
		     min);
		return -1;
	}
	*out = v;
	return 0;
}

void exs_options_default(struct exs_options *o)
{
	memset(o, 0, sizeof(*o));
	o->policy = REX_DROP_FIXED;
	o->scenario = EXS_SC_ISSUE448;
	o->iterations = 1000;
	o->warmup = 50;
	o->executors = 2;
	o->tasks = 4;
	o->probe = EXS_PROBE_AUTO;
	o->seed = 1;
	o->sample_every = 1;
	o->heap = 1;
	o->heap_stacks = EXS_HEAP_STACKS_WINDOW;
	exs_limits_default(&o->limits);
}

int exs_runtime_is_rex(const struct exs_options *o)
{
	return !o->runtime || strcmp(o->runtime, "rex") == 0;
}

/* Long options; the value of each table entry is its ID (short options
 * use their letter). */
enum {
	OPT_POLICY = 256,
	OPT_SCENARIO,
	OPT_ITERATIONS,
	OPT_EXECUTORS,
	OPT_TASKS,
	OPT_WARMUP,
	OPT_PROBE,
	OPT_CSV,
	OPT_JSON,
	OPT_JUNIT,
	OPT_SEED,
	OPT_DURATION,
	OPT_VSZ_SLOPE,
	OPT_RSS_SLOPE,
	OPT_VSZ_GROWTH,
	OPT_RSS_GROWTH,
	OPT_SLOPE_FLOOR,
	OPT_SAMPLE_EVERY,
	OPT_HEAP,
	OPT_HEAP_STACKS,
	OPT_RUNTIME,
	OPT_TEARDOWN,
};

static const struct option long_options[] = {
	{ "policy", required_argument, NULL, OPT_POLICY },
	{ "scenario", required_argument, NULL, OPT_SCENARIO },
	{ "iterations", required_argument, NULL, OPT_ITERATIONS },
	{ "executors", required_argument, NULL, OPT_EXECUTORS },
	{ "tasks", required_argument, NULL, OPT_TASKS },
	{ "warmup", required_argument, NULL, OPT_WARMUP },
	{ "probe", required_argument, NULL, OPT_PROBE },
	{ "csv", required_argument, NULL, OPT_CSV },
	{ "json", required_argument, NULL, OPT_JSON },
	{ "junit", required_argument, NULL, OPT_JUNIT },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "vsz-slope-limit", required_argument, NULL, OPT_VSZ_SLOPE },
	{ "rss-slope-limit", required_argument, NULL, OPT_RSS_SLOPE },
	{ "vsz-growth-limit", required_argument, NULL, OPT_VSZ_GROWTH },
	{ "rss-growth-limit", required_argument, NULL, OPT_RSS_GROWTH },
	{ "slope-floor", required_argument, NULL, OPT_SLOPE_FLOOR },
	{ "sample-every", required_argument, NULL, OPT_SAMPLE_EVERY },
	{ "heap", required_argument, NULL, OPT_HEAP },
	{ "heap-stacks", required_argument, NULL, OPT_HEAP_STACKS },
	{ "runtime", required_argument, NULL, OPT_RUNTIME },
	{ "teardown", required_argument, NULL, OPT_TEARDOWN },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static const char *option_name(int id)
{
	for (const struct option *lo = long_options; lo->name; lo++)
		if (lo->val == id)
			return lo->name;
	return "?";
}

static int parse_policy(const char *val, struct exs_options *o, char *err,
			size_t len)
{
	char names[128] = "";

	if (rex_policy_parse(val, &o->policy) == 0)
		return 0;
	for (int p = 0; p < REX_DROP_POLICY_COUNT; p++)
		snprintf(names + strlen(names), sizeof(names) - strlen(names),
			 "%s%s", p ? ", " : "", rex_policy_name(p));
	fail(err, len, "--policy: unknown policy '%s' (%s)", val, names);
	return -1;
}

static int parse_probe(const char *val, struct exs_options *o, char *err,
		       size_t len)
{
	static const char *const modes[] = {
		[EXS_PROBE_AUTO] = "auto",
		[EXS_PROBE_REQUIRE] = "require",
		[EXS_PROBE_OFF] = "off",
	};
	for (int m = 0; m < 3; m++) {
		if (strcmp(val, modes[m]) == 0) {
			o->probe = (enum exs_probe_mode)m;
			return 0;
		}
	}
	fail(err, len, "--probe: unknown mode '%s' (auto, require or off)",
	     val);
	return -1;
}

/* val among names[0..n-1]: its index, or -1 with err saying what is allowed. */
static int parse_word(const char *opt, const char *val,
		      const char *const *names, int n, char *err, size_t len)
{
	char list[96] = "";

	for (int i = 0; i < n; i++) {
		if (strcmp(val, names[i]) == 0)
			return i;
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
			 "%s%s",
			 i == 0	      ? ""
			 : i == n - 1 ? " or "
				      : ", ",
			 names[i]);
	}
	fail(err, len, "%s: unknown value '%s' (%s)", opt, val, list);
	return -1;
}

/* One option's value into o. */
static int set_option(int id, const char *opt, const char *val,
		      struct exs_options *o, char *err, size_t len)
{
	uint64_t u;
	int rc;

	switch (id) {
	case OPT_POLICY:
		o->policy_set = 1;
		return parse_policy(val, o, err, len);
	case OPT_RUNTIME:
		o->runtime = val;
		return 0;
	case OPT_TEARDOWN: {
		static const char *const hows[] = { "correct", "careless" };
		int v = parse_word(opt, val, hows, 2, err, len);
		o->teardown = v;
		o->teardown_set = 1;
		return v < 0 ? -1 : 0;
	}
	case OPT_SCENARIO:
		o->scenario_set = 1;
		if (exs_scenario_parse(val, &o->scenario) == 0)
			return 0;
		fail(err, len,
		     "--scenario: unknown scenario '%s' (all, idle, issue448, timers, io, "
		     "joins, foreign-wakers, spawn-in-drop, mixed, long-lived, thread-local)",
		     val);
		return -1;
	case OPT_PROBE:
		return parse_probe(val, o, err, len);
	case OPT_ITERATIONS:
		o->iterations_set = 1;
		return parse_u64(opt, val, 1, 1000000000ULL, &o->iterations,
				 err, len);
	case OPT_WARMUP:
		return parse_u64(opt, val, 0, 1000000000ULL, &o->warmup, err,
				 len);
	case OPT_EXECUTORS:
		rc = parse_u64(opt, val, 1, 64, &u, err, len);
		o->executors = (unsigned)u;
		return rc;
	case OPT_TASKS:
		rc = parse_u64(opt, val, 0, 4096, &u, err, len);
		o->tasks = (unsigned)u;
		return rc;
	case OPT_SEED:
		return parse_u64(opt, val, 0, UINT64_MAX, &o->seed, err, len);
	case OPT_DURATION:
		return parse_double(opt, val, 1, 0.01, 1e7, &o->duration_s, err,
				    len);
	case OPT_SAMPLE_EVERY:
		return parse_u64(opt, val, 1, 1000000000ULL, &o->sample_every,
				 err, len);
	case OPT_HEAP: {
		static const char *const onoff[] = { "off", "on" };
		int v = parse_word(opt, val, onoff, 2, err, len);
		o->heap = v;
		return v < 0 ? -1 : 0;
	}
	case OPT_HEAP_STACKS: {
		static const char *const modes[] = {
			[EXS_HEAP_STACKS_WINDOW] = "window",
			[EXS_HEAP_STACKS_ALL] = "all",
			[EXS_HEAP_STACKS_OFF] = "off",
		};
		int v = parse_word(opt, val, modes, 3, err, len);
		o->heap_stacks = (enum exs_heap_stacks)v;
		return v < 0 ? -1 : 0;
	}
	case OPT_CSV:
		o->csv_path = val;
		return 0;
	case OPT_JSON:
		o->json_path = val;
		return 0;
	case OPT_JUNIT:
		o->junit_path = val;
		return 0;
	}
	/* the memory limits */
	double *limit = id == OPT_VSZ_SLOPE    ? &o->limits.vsz_slope
			: id == OPT_RSS_SLOPE  ? &o->limits.rss_slope
			: id == OPT_VSZ_GROWTH ? &o->limits.vsz_growth
			: id == OPT_RSS_GROWTH ? &o->limits.rss_growth
					       : &o->limits.slope_floor;
	o->limits_set = 1;
	return parse_double(opt, val, 0, 0, 1e15, limit, err, len);
}

int exs_parse_args(int argc, char **argv, struct exs_options *o, char *err,
		   size_t errlen)
{
	int id, help = 0, version = 0;

	exs_options_default(o);
	if (errlen)
		err[0] = '\0';
	optind = 0; /* glibc: a full reset, so the parser can run again */
	opterr = 0; /* errors are ours, in err */
	while ((id = getopt_long(argc, argv, "+:qvh", long_options, NULL)) !=
	       -1) {
		char opt[64];
		const char *arg = argv[optind - 1];

		switch (id) {
		case 'q':
			o->quiet = 1;
			continue;
		case 'v':
			o->verbose = 1;
			continue;
		case 'h':
			help = 1;
			continue;
		case 'V':
			version = 1;
			continue;
		case ':':
			fail(err, errlen, "%s needs a value (see --help)", arg);
			return EXS_ARGS_ERROR;
		case '?':
			if (strncmp(arg, "--", 2) != 0)
				fail(err, errlen,
				     "unknown option '-%c' (see --help)",
				     optopt);
			else if (optopt)
				fail(err, errlen,
				     "%.*s takes no value (see --help)",
				     (int)strcspn(arg, "="), arg);
			else
				fail(err, errlen,
				     "unknown option '%.*s' (see --help)",
				     (int)strcspn(arg, "="), arg);
			return EXS_ARGS_ERROR;
		}
		snprintf(opt, sizeof(opt), "--%s", option_name(id));
		/* "--warmup --json x" is a missing value, not '--json'; a value
		 * that starts with -- can be given as --opt=--x */
		if (optarg == arg && strncmp(optarg, "--", 2) == 0) {
			fail(err, errlen, "%s needs a value (see --help)", opt);
			return EXS_ARGS_ERROR;
		}
		if (*optarg == '\0') {
			fail(err, errlen, "%s: empty value", opt);
			return EXS_ARGS_ERROR;
		}
		if (set_option(id, opt, optarg, o, err, errlen))
			return EXS_ARGS_ERROR;
	}
	if (help)
		return EXS_ARGS_HELP;
	if (version)
		return EXS_ARGS_VERSION;
	if (optind < argc) {
		fail(err, errlen, "unexpected argument '%s' (see --help)",
		     argv[optind]);
		return EXS_ARGS_ERROR;
	}
	if (o->iterations_set && o->duration_s > 0) {
		fail(err, errlen,
		     "--iterations and --duration exclude each other: give one");
		return EXS_ARGS_ERROR;
	}
	return EXS_ARGS_OK;
}
