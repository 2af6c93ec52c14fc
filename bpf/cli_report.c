/*
 * fdtrack's JSON report: written to a temporary file next to FILE and
 * renamed, so FILE is never partial; FILE's directory is checked before
 * attaching.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdtrack_cli.h"
#include "json.h"

/* Before attaching: can the JSON report be written there? */
int json_report_check(const char *path)
{
	char tmp[PATH_MAX];
	struct stat st;
	int fd;

	if (!strcmp(path, "-"))
		return 0;
	if (!stat(path, &st) && S_ISDIR(st.st_mode)) {
		fprintf(stderr, "fdtrack: cannot write %s: it is a directory\n",
			path);
		return -1;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
		fprintf(stderr, "fdtrack: cannot write %s: name too long\n", path);
		return -1;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		fprintf(stderr, "fdtrack: cannot write %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	close(fd);
	unlink(tmp);
	return 0;
}

static void json_kinds(FILE *f, const char *key, const uint64_t *v)
{
	fprintf(f, "  \"%s\": {", key);
	for (size_t i = 0; i < cli_ntracked; i++)
		fprintf(f, "%s\"%s\": %llu", i ? ", " : "",
			fdkind_name(cli_tracked_kinds[i]),
			(unsigned long long)v[cli_tracked_kinds[i]]);
	fprintf(f, "},\n");
}

int json_report_write(const char *path, const struct fdtrack_counts *c,
		      const uint64_t *left_open, const struct fdtrack_group *g,
		      size_t ng, pid_t pid, const char *cmd_name,
		      int cmd_status, const struct run_info *ri)
{
	char tmp[PATH_MAX];
	mode_t um;
	FILE *f = stdout;
	int fd;

	if (strcmp(path, "-")) {
		snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
		fd = mkstemp(tmp);
		if (fd < 0 || !(f = fdopen(fd, "w"))) {
			fprintf(stderr, "fdtrack: cannot write %s: %s\n", path,
				strerror(errno));
			if (fd >= 0) {
				close(fd);
				unlink(tmp);
			}
			return -1;
		}
		um = umask(0);
		umask(um);
		fchmod(fd, 0666 & ~um);
	}
	fprintf(f, "{\n  \"pid\": %d,\n  \"target_exited\": %s,\n", (int)pid,
		c->exited ? "true" : "false");
	fprintf(f, "  \"interrupted\": %s,\n", ri->interrupted ? "true" : "false");
	if (ri->interrupted)
		fprintf(f, "  \"signal\": %d,\n", ri->interrupted);
	if (cmd_name) {
		fprintf(f, "  \"command\": ");
		json_str(f, cmd_name);
		fprintf(f, ",\n  \"command_status\": %d,\n", cmd_status);
	}
	json_kinds(f, "opens", c->opens);
	json_kinds(f, "closes", c->closes);
	json_kinds(f, "open_at_exit", left_open);
	json_kinds(f, "closed_outside_syscalls", c->closed_outside_syscalls);
	json_kinds(f, "opened_outside_syscalls", c->opened_outside_syscalls);
	json_kinds(f, "at_start", c->at_start);
	/* fdtrack's own memory: after attaching, when tracing ended, after
	 * the report (symbolisation loads debug info) */
	fprintf(f, "  \"fdtrack_rss_kb\": {\"start\": %ld, \"traced\": %ld, "
		"\"end\": %ld, \"max\": %ld},\n", ri->rss_start,
		ri->rss_traced, ri->rss_end, ri->rss_max);
	fprintf(f, "  \"lost_events\": %llu,\n  \"leaks\": [",
		(unsigned long long)c->lost_events);
	for (size_t i = 0; i < ng; i++) {
		fprintf(f, "%s\n    { \"kind\": \"%s\", \"count\": %u, \"stack\": [",
			i ? "," : "", fdkind_name(g[i].kind), g[i].count);
		for (unsigned j = 0; j < g[i].nframes; j++) {
			fprintf(f, "%s\n        ", j ? "," : "");
			json_str(f, g[i].frames[j]);
		}
		fprintf(f, " ] }");
	}
	fprintf(f, "%s]\n}\n", ng ? "\n  " : "");
	if (f == stdout)
		return fflush(f) ? -1 : 0;
	if (fflush(f) || fsync(fileno(f)) || ferror(f)) {
		fprintf(stderr, "fdtrack: writing %s failed: %s\n", path,
			strerror(errno));
		fclose(f);
		unlink(tmp);
		return -1;
	}
	fclose(f);
	if (rename(tmp, path)) {
		fprintf(stderr, "fdtrack: cannot write %s: %s\n", path,
			strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

