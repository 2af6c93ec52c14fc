/*
 * The command fdtrack runs (-- CMD): as whom, started once the BPF programs
 * are attached, and its ptrace stops.
 *
 * The child closes fdtrack's own fds at once and waits (a futex on a page
 * both share: no fd of fdtrack's is left in CMD's count at start) until
 * fdtrack has attached, then execs; if it cannot (no such file, no
 * permission, cannot switch user), it writes errno to that page and exits,
 * and fdtrack reports that as its own error, not as a clean run. fdtrack
 * ptrace-seizes it with
 * PTRACE_O_TRACEEXIT (and, with --follow, PTRACE_O_TRACEFORK, VFORK and
 * CLONE, as strace -f does, so every process it starts is traced too): the
 * exit stop comes at the start of do_exit, while the fd table and the
 * memory map are intact, so fdtrack reads what symbolising needs right
 * then. Nothing else is intercepted; signals are passed on unchanged.
 *
 * fdtrack is the subreaper of CMD's tree (PR_SET_CHILD_SUBREAPER): a
 * process whose parent exits is adopted by fdtrack, not by init, so the
 * whole tree, also what a shell started in the background and left, is
 * found under fdtrack in /proc and is stopped with CMD (a process group
 * would miss what called setsid or setpgid, and CMD stays in fdtrack's, so
 * the terminal's job control is the shell's as before).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fdtrack_cli.h"

const int cli_stop_signals[] = { SIGINT, SIGTERM, SIGHUP };
const size_t cli_nstop_signals = sizeof(cli_stop_signals) / sizeof(int);

static int parse_id(const char *name, unsigned *out)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s)
		return 0;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v > 0xfffffffeUL) {
		fprintf(stderr,
			"fdtrack: %s='%s' is not a user/group id; unset "
			"it or pass --run-as-root\n",
			name, s);
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

/* What fdtrack and its child share until the exec: no fd. */
struct spawn_page {
	atomic_int go;	   /* 1: exec; -1: fdtrack gave up */
	atomic_int failed; /* 1: stage and err say why CMD did not start */
	int stage;	   /* 0 exec, 1 switch user */
	int err;
};

static void futex_wake(atomic_int *word)
{
	syscall(SYS_futex, (int *)word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* In the child: tell fdtrack why CMD did not start. */
static _Noreturn void child_failed(struct spawn_page *pg, int stage)
{
	pg->stage = stage;
	pg->err = errno;
	atomic_store(&pg->failed, 1);
	_exit(127);
}

static _Noreturn void child_main(char **argv, const struct run_as *ra,
				 const sigset_t *mask, struct spawn_page *pg,
				 pid_t parent, const int *own, size_t nown)
{
	for (size_t i = 0; i < nown; i++)
		if (own[i] >= 0)
			close(own[i]);
	for (size_t i = 0; i < cli_nstop_signals; i++)
		signal(cli_stop_signals[i], SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, mask, NULL);
	if (ra->drop &&
	    (setgroups(0, NULL) || setgid(ra->gid) || setuid(ra->uid)))
		child_failed(pg, 1);
	while (!atomic_load(&pg->go)) {
		struct timespec tick = { 0, 100 * 1000 * 1000 };

		syscall(SYS_futex, (int *)&pg->go, FUTEX_WAIT, 0, &tick, NULL,
			0);
		if (getppid() != parent)
			_exit(127); /* fdtrack is gone */
	}
	if (atomic_load(&pg->go) < 0)
		_exit(127); /* fdtrack gave up */
	execvp(argv[0], argv);
	child_failed(pg, 0);
}

int command_spawn(struct command *c, char **argv, const struct run_as *ra,
		  const sigset_t *mask, const int *own, size_t nown)
{
	pid_t parent = getpid();

	*c = (struct command){ .argv = argv };
	c->page = mmap(NULL, sizeof(*c->page), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c->page == MAP_FAILED) {
		c->page = NULL;
		goto fail;
	}
	/* orphans of CMD's tree come to us, so stopping it finds them all */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	c->pid = fork();
	if (c->pid == 0)
		child_main(argv, ra, mask, c->page, parent, own, nown);
	if (c->pid < 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "fdtrack: cannot start '");
	cli_text_str(stderr, argv[0]);
	fprintf(stderr, "': %s\n", strerror(errno));
	return -1;
}

int command_start(struct command *c, bool follow)
{
	long opts = PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL;

	if (follow)
		opts |= PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
			PTRACE_O_TRACECLONE;
	c->traced = ptrace(PTRACE_SEIZE, c->pid, 0, opts) == 0;
	if (!c->traced)
		fprintf(stderr,
			"fdtrack: warning: cannot ptrace the command "
			"(%s): stacks of processes that exit quickly may stay "
			"unresolved\n",
			strerror(errno));
	atomic_store(&c->page->go, 1);
	futex_wake(&c->page->go);
	c->started = true;
	return 0;
}

/* CMD was reaped: did it exec, or write why not? */
static void check_started(struct command *c)
{
	if (c->page && atomic_load(&c->page->failed)) {
		c->start_what = c->page->stage ? "switch user for" : "run";
		c->start_errno = c->page->err;
	}
}

/* One stop of a traced thread tid. */
static void on_stop(struct fdtrack *t, pid_t tid, int st)
{
	int sig = WSTOPSIG(st);

	switch (st >> 16) {
	case PTRACE_EVENT_EXIT:
		fdtrack_exit_stop(t, tid); /* the process is still whole */
		ptrace(PTRACE_CONT, tid, 0, 0);
		break;
	case PTRACE_EVENT_STOP:
		if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN ||
		    sig == SIGTTOU)
			ptrace(PTRACE_LISTEN, tid, 0, 0); /* group-stop */
		else
			ptrace(PTRACE_CONT, tid, 0, 0); /* a new tracee */
		break;
	case PTRACE_EVENT_FORK:
	case PTRACE_EVENT_VFORK:
	case PTRACE_EVENT_CLONE:
		ptrace(PTRACE_CONT, tid, 0, 0);
		break;
	default:
		/* signal-delivery-stop: deliver it unchanged */
		ptrace(PTRACE_CONT, tid, 0, sig);
		break;
	}
}

static struct stopped_proc *stopped_find(struct command *c, pid_t pid)
{
	for (size_t i = 0; i < c->nstopped; i++)
		if (c->stopped[i].pid == pid)
			return &c->stopped[i];
	return NULL;
}

void command_reap(struct fdtrack *t, struct command *c)
{
	struct stopped_proc *sp;
	pid_t r;
	int st;

	/* __WALL: threads and the processes ptrace made ours too; the
	 * orphans we adopted as subreaper too */
	while ((r = waitpid(-1, &st, WNOHANG | __WALL)) > 0) {
		if (WIFSTOPPED(st)) {
			on_stop(t, r, st);
			continue;
		}
		if (!WIFEXITED(st) && !WIFSIGNALED(st))
			continue;
		if ((sp = stopped_find(c, r))) {
			sp->reaped = true;
			sp->status = st;
		}
		if (r == c->pid) {
			c->done = true;
			c->status = WIFEXITED(st) ? WEXITSTATUS(st)
						  : 128 + WTERMSIG(st);
			check_started(c); /* its reason is on the page */
		}
	}
}

/* "pid (comm) S ppid ...": its parent; -1 on error, and for a zombie
 * unless zombies. */
static pid_t parent_of(const char *pid, bool zombies)
{
	char path[64], buf[512], *paren;
	ssize_t n;
	int fd, ppid;
	char state;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	/* comm may hold anything, ")" too: the last one ends it */
	if (!(paren = strrchr(buf, ')')) ||
	    sscanf(paren + 1, " %c %d", &state, &ppid) != 2 ||
	    (!zombies && (state == 'Z' || state == 'X')))
		return -1;
	return ppid;
}

struct pid_pair {
	pid_t pid, ppid;
};

/* Every process under fdtrack, from /proc (malloc'ed); zombies too if
 * zombies. */
static size_t tree_pids(pid_t **out, bool zombies)
{
	struct pid_pair *all = NULL;
	size_t n = 0, cap = 0, ntree = 0;
	pid_t *tree = NULL, self = getpid();
	struct dirent *e;
	DIR *d = opendir("/proc");

	*out = NULL;
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		pid_t ppid;

		if (!isdigit((unsigned char)e->d_name[0]) ||
		    (ppid = parent_of(e->d_name, zombies)) < 0)
			continue;
		if (n == cap) {
			struct pid_pair *more = realloc(all,
							(cap = cap ? 2 * cap
								   : 256) *
								sizeof(*all));
			if (!more)
				break;
			all = more;
		}
		all[n++] = (struct pid_pair){ atoi(e->d_name), ppid };
	}
	closedir(d);
	tree = malloc((n ? n : 1) * sizeof(*tree));
	if (!tree) {
		free(all);
		return 0;
	}
	/* breadth first from fdtrack: each round adds the children of the
	 * processes the round before added (a process has one parent, so
	 * none is added twice) */
	for (size_t from = 0, to = 0, round = 0;; round++) {
		size_t before = ntree;

		for (size_t i = 0; i < n; i++) {
			bool child = !round && all[i].ppid == self;

			for (size_t j = from; !child && j < to; j++)
				child = all[i].ppid == tree[j];
			if (child)
				tree[ntree++] = all[i].pid;
		}
		if (ntree == before)
			break;
		from = before;
		to = ntree;
	}
	free(all);
	*out = tree;
	return ntree;
}

/* The entry of pid in c->stopped, made (with its command line, read now,
 * before a signal empties it) if new; NULL when out of memory. */
static struct stopped_proc *stopped_entry(struct command *c, pid_t pid)
{
	struct stopped_proc *sp = stopped_find(c, pid), *more;
	char path[64];
	ssize_t n;
	int fd;

	if (sp)
		return sp;
	more = realloc(c->stopped, (c->nstopped + 1) * sizeof(*more));
	if (!more)
		return NULL;
	c->stopped = more;
	sp = &c->stopped[c->nstopped++];
	*sp = (struct stopped_proc){ .pid = pid };
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return sp;
	n = read(fd, sp->cmdline, sizeof(sp->cmdline) - 1);
	close(fd);
	for (ssize_t i = 0; i < n; i++) /* arguments joined by spaces */
		if (!sp->cmdline[i])
			sp->cmdline[i] = i + 1 < n ? ' ' : 0;
	return sp;
}

size_t command_signal_tree(struct command *c, int sig)
{
	pid_t *tree;
	size_t n = tree_pids(&tree, false), sent = 0;

	for (size_t i = 0; i < n; i++) {
		struct stopped_proc *sp = stopped_entry(c, tree[i]);

		if (kill(tree[i], sig)) {
			if (sp && !sp->first_sig) /* gone already: not ours */
				c->nstopped--;
			continue;
		}
		sent++;
		if (sp && !sp->first_sig)
			sp->first_sig = sig;
		if (sp)
			sp->last_sig = sig;
	}
	free(tree);
	return sent;
}

size_t command_tree_left(bool zombies)
{
	pid_t *tree;
	size_t n = tree_pids(&tree, zombies);

	free(tree);
	return n;
}

void command_kill(struct command *c)
{
	if (c->page && !c->started) {
		atomic_store(&c->page->go, -1); /* never started: it exits */
		futex_wake(&c->page->go);
	}
	if (c->pid > 0 && !c->done) {
		command_signal_tree(c, SIGKILL);
		while (waitpid(c->pid, NULL, __WALL) < 0 && errno == EINTR)
			;
		c->done = true;
	}
	if (c->page)
		munmap(c->page, sizeof(*c->page));
	c->page = NULL;
	free(c->stopped);
	c->stopped = NULL;
	c->nstopped = 0;
}
