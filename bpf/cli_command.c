/*
 * The command fdtrack runs (-- CMD): as whom, started once the BPF programs
 * are attached, and its ptrace stops (fdtrack_cli.c's header says why).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdtrack_cli.h"

static int parse_id(const char *name, unsigned *out)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s)
		return 0;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v >= (unsigned long)-1 ||
	    v > 0xfffffffeUL) {
		fprintf(stderr, "fdtrack: %s='%s' is not a user/group id; unset "
			"it or pass --run-as-root\n", name, s);
		return -1;
	}
	*out = v;
	return 1;
}

int run_as_setup(bool run_as_root, struct run_as *ra)
{
	unsigned uid, gid;
	int u, g;

	*ra = (struct run_as){ 0 };
	if (run_as_root || geteuid() != 0)
		return 0;
	u = parse_id("SUDO_UID", &uid);
	g = parse_id("SUDO_GID", &gid);
	if (u < 0 || g < 0)
		return -1;
	if (!u)
		return 0; /* not under sudo */
	ra->drop = true;
	ra->uid = uid;
	ra->gid = g ? gid : uid;
	return 0;
}

const int cli_stop_signals[] = { SIGINT, SIGTERM, SIGHUP };
const size_t cli_nstop_signals = sizeof(cli_stop_signals) / sizeof(int);

pid_t command_spawn(char **cmd, const struct run_as *ra, int *go_fd,
		    const sigset_t *mask)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		for (size_t i = 0; i < cli_nstop_signals; i++)
			signal(cli_stop_signals[i], SIG_DFL);
		sigprocmask(SIG_SETMASK, mask, NULL);
		signal(SIGPIPE, SIG_DFL);
		close(p[1]);
		if (ra->drop && (setgroups(0, NULL) || setgid(ra->gid) ||
				 setuid(ra->uid))) {
			fprintf(stderr, "fdtrack: cannot switch to uid %u gid %u "
				"for '%s': %s\n", (unsigned)ra->uid,
				(unsigned)ra->gid, cmd[0], strerror(errno));
			_exit(126);
		}
		if (read(p[0], &c, 1) != 1)
			_exit(127); /* fdtrack gave up */
		close(p[0]);
		execvp(cmd[0], cmd);
		fprintf(stderr, "fdtrack: cannot run '%s': %s\n", cmd[0],
			strerror(errno));
		_exit(127);
	}
	close(p[0]);
	*go_fd = p[1];
	return pid;
}

void command_reap(struct fdtrack *t, struct command *ch)
{
	int st;
	pid_t r;

	while (!ch->done && (r = waitpid(ch->pid, &st, WNOHANG | __WALL)) > 0) {
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			ch->done = true;
			ch->status = WIFEXITED(st) ? WEXITSTATUS(st)
						   : 128 + WTERMSIG(st);
			break;
		}
		if (!WIFSTOPPED(st))
			continue;
		if (st >> 8 == (SIGTRAP | (PTRACE_EVENT_EXIT << 8))) {
			if (!ch->have_groups &&
			    fdtrack_live_groups(t, &ch->groups, &ch->ngroups) == 0)
				ch->have_groups = true;
			ptrace(PTRACE_CONT, ch->pid, 0, 0);
		} else if (st >> 16 == PTRACE_EVENT_STOP) {
			ptrace(PTRACE_LISTEN, ch->pid, 0, 0); /* group-stop */
		} else {
			/* signal-delivery-stop: deliver it unchanged */
			ptrace(PTRACE_CONT, ch->pid, 0, WSTOPSIG(st));
		}
	}
}

