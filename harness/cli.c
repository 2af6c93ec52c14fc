/* Command line: every bad value gets one line saying what was wrong. */
#include "exstress.h"

#include <errno.h>
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
"fds by kind and VSZ/RSS (and fdtrack's eventfd/io_uring opens and closes);\n"
"say whether anything grew.\n"
"\n"
"  --scenario NAME     all | idle | issue448 | timers | io | joins |\n"
"                      foreign-wakers | spawn-in-drop | mixed   (default issue448)\n"
"  --policy P          fixed | legacy-448 (the glommio #448 bug)  (default fixed)\n"
"  --iterations N      measured iterations per scenario            (default 1000)\n"
"  --duration SECONDS  run each scenario this long instead of N iterations\n"
"  --warmup W          iterations before the reference sample      (default 50)\n"
"  --executors K       executors (threads) per iteration           (default 2)\n"
"  --tasks M           parked tasks per executor                   (default 4)\n"
"  --seed S            seed of the `mixed` scenario                (default 1)\n"
"  --probe MODE        auto | require | off: fdtrack (eBPF); auto falls back to\n"
"                      /proc only and says why                     (default auto)\n"
"  --csv FILE          one row per sample (see README for columns)\n"
"  --sample-every N    CSV rows for every Nth iteration only (plus baseline,\n"
"                      reference and last); the verdict uses every sample\n"
"  --json FILE         summary; --junit FILE: JUnit XML, a test case per scenario\n"
"  --vsz-slope-limit B, --rss-slope-limit B   bytes/iteration     (default %s)\n"
"  --vsz-growth-limit B, --rss-growth-limit B bytes in total       (default %s)\n"
"  --slope-floor B     a slope fails only once memory grew by more (default %s)\n"
"  --quiet             no progress line and no pass summaries\n"
"  --verbose           also print the fd census at start and at exit\n"
"  --help\n"
"\n"
"Verdict, per scenario, against the sample taken right after warm-up: every fd\n"
"kind equals it exactly after every iteration; fdtrack opens = closes (+ closes\n"
"done outside syscalls); VSZ and RSS least-squares slopes and total growth stay\n"
"under the limits. Exit 0 pass, 1 leak, 2 usage or environment error;\n"
"SIGINT/SIGTERM stop the run, write the outputs over the samples taken\n"
"(\"interrupted\": true) and exit 130/143.\n"
"%s",
		s, g, f,
		EXS_SANITIZED ? "This is a sanitizer build: memory limits are off unless given.\n" : "");
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
		fail(err, len, "%s: '%s' is too large (at most %" PRIu64 ")", opt,
		     val, max);
		return -1;
	}
	if (v < min) {
		fail(err, len, "%s: '%s' is too small (at least %" PRIu64 ")", opt,
		     val, min);
		return -1;
	}
	*out = v;
	return 0;
}

/* A decimal (or strtod) number in [min, max]; with positive set, zero is
 * refused too. Rejects sign, junk, NaN, infinities and under/overflow. */
static int parse_double(const char *opt, const char *val, int positive,
			double min, double max, double *out, char *err, size_t len)
{
	if (*val == '-') {
		fail(err, len, "%s: '%s' must not be negative", opt, val);
		return -1;
	}
	errno = 0;
	char *end;
	double v = strtod(val, &end);
	/* plain decimals only: no hex, "inf", "nan" or blanks */
	if (end == val || *end != '\0' || isnan(v) || val[strspn(val, "0123456789.eE+-")] != '\0') {
		fail(err, len, "%s: '%s' is not a number", opt, val);
		return -1;
	}
	if ((errno == ERANGE && v > 1) || v > max) {
		fail(err, len, "%s: '%s' is too large (at most %g)", opt, val, max);
		return -1;
	}
	if (positive && v <= 0) {
		fail(err, len, "%s: '%s' must be greater than 0", opt, val);
		return -1;
	}
	if (errno == ERANGE || v < min) { /* underflow: ERANGE with v <= 1 */
		fail(err, len, "%s: '%s' is too small (at least %g)", opt, val, min);
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
	exs_limits_default(&o->limits);
}

int exs_parse_args(int argc, char **argv, struct exs_options *o, char *err,
		   size_t errlen)
{
	exs_options_default(o);
	if (errlen)
		err[0] = '\0';
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
			return EXS_ARGS_HELP;
		if (strcmp(arg, "--quiet") == 0 || strcmp(arg, "-q") == 0) {
			o->quiet = 1;
			continue;
		}
		if (strcmp(arg, "--verbose") == 0 || strcmp(arg, "-v") == 0) {
			o->verbose = 1;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0) {
			fail(err, errlen, "unexpected argument '%s' (see --help)", arg);
			return EXS_ARGS_ERROR;
		}
		/* --opt=value or --opt value */
		char opt[64];
		const char *val = NULL;
		const char *eq = strchr(arg, '=');
		size_t olen = eq ? (size_t)(eq - arg) : strlen(arg);
		if (olen >= sizeof(opt)) {
			fail(err, errlen, "unknown option '%s' (see --help)", arg);
			return EXS_ARGS_ERROR;
		}
		memcpy(opt, arg, olen);
		opt[olen] = '\0';
		static const char *const known[] = {
			"--policy", "--scenario", "--iterations", "--executors",
			"--tasks", "--warmup", "--probe", "--csv", "--json",
			"--junit", "--seed", "--duration", "--vsz-slope-limit",
			"--rss-slope-limit", "--vsz-growth-limit",
			"--rss-growth-limit", "--slope-floor", "--sample-every", NULL
		};
		int found = 0;
		for (int k = 0; known[k]; k++)
			found |= strcmp(opt, known[k]) == 0;
		if (!found) {
			fail(err, errlen, "unknown option '%s' (see --help)", opt);
			return EXS_ARGS_ERROR;
		}
		if (eq) {
			val = eq + 1;
		} else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
			/* "--warmup --json x" is a missing value, not '--json';
			 * a value that starts with -- can be given as --opt=--x */
			val = argv[++i];
		} else {
			fail(err, errlen, "%s needs a value (see --help)", opt);
			return EXS_ARGS_ERROR;
		}
		if (*val == '\0') {
			fail(err, errlen, "%s: empty value", opt);
			return EXS_ARGS_ERROR;
		}

		uint64_t u;
		double d;
		int rc = 0;
		if (strcmp(opt, "--policy") == 0) {
			if (rex_policy_parse(val, &o->policy) != 0) {
				char names[128] = "";
				for (int p = 0; p < REX_DROP_POLICY_COUNT; p++)
					snprintf(names + strlen(names), sizeof(names) - strlen(names),
						 "%s%s", p ? ", " : "", rex_policy_name(p));
				fail(err, errlen, "--policy: unknown policy '%s' (%s)", val, names);
				rc = -1;
			}
		} else if (strcmp(opt, "--scenario") == 0) {
			if (exs_scenario_parse(val, &o->scenario) != 0) {
				fail(err, errlen,
				     "--scenario: unknown scenario '%s' (all, idle, issue448, timers, io, joins, foreign-wakers, spawn-in-drop, mixed)",
				     val);
				rc = -1;
			}
		} else if (strcmp(opt, "--probe") == 0) {
			if (strcmp(val, "auto") == 0)
				o->probe = EXS_PROBE_AUTO;
			else if (strcmp(val, "require") == 0)
				o->probe = EXS_PROBE_REQUIRE;
			else if (strcmp(val, "off") == 0)
				o->probe = EXS_PROBE_OFF;
			else {
				fail(err, errlen, "--probe: unknown mode '%s' (auto, require or off)", val);
				rc = -1;
			}
		} else if (strcmp(opt, "--iterations") == 0) {
			rc = parse_u64(opt, val, 1, 1000000000ULL, &o->iterations, err, errlen);
		} else if (strcmp(opt, "--warmup") == 0) {
			rc = parse_u64(opt, val, 0, 1000000000ULL, &o->warmup, err, errlen);
		} else if (strcmp(opt, "--executors") == 0) {
			rc = parse_u64(opt, val, 1, 64, &u, err, errlen);
			o->executors = (unsigned)u;
		} else if (strcmp(opt, "--tasks") == 0) {
			rc = parse_u64(opt, val, 0, 4096, &u, err, errlen);
			o->tasks = (unsigned)u;
		} else if (strcmp(opt, "--seed") == 0) {
			rc = parse_u64(opt, val, 0, UINT64_MAX, &o->seed, err, errlen);
		} else if (strcmp(opt, "--duration") == 0) {
			rc = parse_double(opt, val, 1, 0.01, 1e7, &o->duration_s, err, errlen);
		} else if (strcmp(opt, "--sample-every") == 0) {
			rc = parse_u64(opt, val, 1, 1000000000ULL, &o->sample_every, err, errlen);
		} else if (strcmp(opt, "--csv") == 0) {
			o->csv_path = val;
		} else if (strcmp(opt, "--json") == 0) {
			o->json_path = val;
		} else if (strcmp(opt, "--junit") == 0) {
			o->junit_path = val;
		} else {
			rc = parse_double(opt, val, 0, 0, 1e15, &d, err, errlen);
			o->limits_set = 1;
			if (strcmp(opt, "--vsz-slope-limit") == 0)
				o->limits.vsz_slope = d;
			else if (strcmp(opt, "--rss-slope-limit") == 0)
				o->limits.rss_slope = d;
			else if (strcmp(opt, "--vsz-growth-limit") == 0)
				o->limits.vsz_growth = d;
			else if (strcmp(opt, "--slope-floor") == 0)
				o->limits.slope_floor = d;
			else
				o->limits.rss_growth = d;
		}
		if (rc)
			return EXS_ARGS_ERROR;
	}
	return EXS_ARGS_OK;
}
