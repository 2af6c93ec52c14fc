/*
 * libFuzzer target: exstress's option parser. The input is argv[1..],
 * NUL-separated. Whatever it is, exs_parse_args must not crash, and must
 * either accept values inside their documented ranges or refuse with one
 * non-empty line.
 *
 *   make fuzz                       a longer run (FUZZ_TIME per target)
 *   build/fuzz/harness/fuzz_args DIR harness/fuzz/corpus/args
 */
#include "exstress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 64

static void require(int ok)
{
	if (!ok)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	/* a NUL-terminated copy, cut into arguments at each NUL */
	char *copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	char *argv[MAX_ARGS + 2];
	int argc = 0;
	argv[argc++] = "exstress";
	for (size_t i = 0; i <= size && argc <= MAX_ARGS;) {
		argv[argc++] = copy + i;
		i += strlen(copy + i) + 1;
	}
	argv[argc] = NULL;

	struct exs_options o;
	char err[160];
	int rc = exs_parse_args(argc, argv, &o, err, sizeof(err));
	if (rc == EXS_ARGS_ERROR) {
		size_t n = strlen(err);
		require(n > 0 && n < sizeof(err));
		require(strchr(err, '\n') == NULL);
	} else if (rc == EXS_ARGS_OK) {
		require(o.iterations >= 1 && o.iterations <= 1000000000ULL);
		require(o.warmup <= 1000000000ULL);
		require(o.executors >= 1 && o.executors <= 64);
		require(o.tasks <= 4096);
		require(o.sample_every >= 1);
		require(o.duration_s == 0 ||
			(o.duration_s >= 0.01 && o.duration_s <= 1e7));
		require((unsigned)o.scenario <= EXS_SC_ALL);
		const double lim[] = { o.limits.vsz_slope, o.limits.rss_slope,
				       o.limits.vsz_growth, o.limits.rss_growth,
				       o.limits.slope_floor };
		for (size_t i = 0; i < sizeof(lim) / sizeof(lim[0]); i++)
			require(isfinite(lim[i]) && lim[i] >= 0);
		const char *paths[] = { o.csv_path, o.json_path, o.junit_path };
		for (size_t i = 0; i < 3; i++)
			require(!paths[i] ||
				(paths[i] >= copy &&
				 paths[i] < copy + size + 1 && *paths[i]));
	} else {
		require(rc == EXS_ARGS_HELP || rc == EXS_ARGS_VERSION);
	}
	free(copy);
	return 0;
}
