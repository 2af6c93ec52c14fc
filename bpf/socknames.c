/*
 * What a socket fd is, as valgrind --track-fds prints it: "TCP
 * 127.0.0.1:44832 -> 127.0.0.1:8080", "TCP listening on 0.0.0.0:8080",
 * "UDP 0.0.0.0:5353", "UNIX /run/x.sock", found by its inode in the
 * process's /proc/PID/net tables (its network namespace's), read once per
 * report.
 */
#include "socknames.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TCP_LISTEN 0x0A

/* "0100007F:1F90" (tcp, udp) or 32 hex digits and a port (tcp6, udp6):
 * the kernel prints the address as host-order 32-bit words. */
static bool inet_text(const char *hex, bool v6, char *out, size_t len)
{
	unsigned char a[16];
	unsigned port, w[4];
	char ip[INET6_ADDRSTRLEN];
	int nw = v6 ? 4 : 1;

	for (int i = 0; i < nw; i++)
		if (sscanf(hex + 8 * i, "%8x", &w[i]) != 1)
			return false;
	if (hex[8 * nw] != ':' || sscanf(hex + 8 * nw + 1, "%x", &port) != 1)
		return false;
	memcpy(a, w, 4 * nw);
	if (!inet_ntop(v6 ? AF_INET6 : AF_INET, a, ip, sizeof(ip)))
		return false;
	snprintf(out, len, v6 ? "[%s]:%u" : "%s:%u", ip, port);
	return true;
}

static bool add(struct socket_names *s, unsigned long ino, char *name)
{
	struct socket_name *more;

	if (!name)
		return false;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		more = realloc(s->v, s->cap * sizeof(*more));
		if (!more) {
			free(name);
			return false;
		}
		s->v = more;
	}
	s->v[s->n].ino = ino;
	s->v[s->n++].name = name;
	return true;
}

/* The sockets of /proc/PID/net/<table> (tcp, tcp6, udp, udp6). */
static void read_inet(struct socket_names *s, pid_t pid, const char *table)
{
	bool v6 = strchr(table, '6'), tcp = table[0] == 't';
	char path[64], line[512], local[64], remote[64], l[80], r[80];
	unsigned long ino;
	char *name;
	unsigned st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/net/%s", (int)pid, table);
	if (!(f = fopen(path, "r")))
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, " %*s %63s %63s %x %*s %*s %*s %*s %*s %lu",
			   local, remote, &st, &ino) != 4 ||
		    !ino || !inet_text(local, v6, l, sizeof(l)) ||
		    !inet_text(remote, v6, r, sizeof(r)))
			continue;
		name = NULL;
		if (tcp && st == TCP_LISTEN)
			(void)!asprintf(&name, "TCP listening on %s", l);
		else if (tcp)
			(void)!asprintf(&name, "TCP %s -> %s", l, r);
		else
			(void)!asprintf(&name, "UDP %s", l);
		if (!add(s, ino, name))
			break;
	}
	fclose(f);
}

static void read_unix(struct socket_names *s, pid_t pid)
{
	char path[64], line[4352], sun_path[4097];
	unsigned long ino;
	char *name;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/net/unix", (int)pid);
	if (!(f = fopen(path, "r")))
		return;
	while (fgets(line, sizeof(line), f)) {
		sun_path[0] = 0;
		if (sscanf(line, "%*s %*s %*s %*s %*s %*s %lu %4096s", &ino,
			   sun_path) < 1 ||
		    !ino)
			continue;
		name = NULL;
		(void)!asprintf(&name, "UNIX %s",
				sun_path[0] ? sun_path : "(unnamed)");
		if (!add(s, ino, name))
			break;
	}
	fclose(f);
}

static int by_ino(const void *a, const void *b)
{
	unsigned long x = ((const struct socket_name *)a)->ino,
		      y = ((const struct socket_name *)b)->ino;

	return x < y ? -1 : x > y;
}

void socket_names_read(struct socket_names *s, pid_t pid)
{
	static const char *const inet[] = { "tcp", "tcp6", "udp", "udp6" };

	for (size_t i = 0; i < sizeof(inet) / sizeof(inet[0]); i++)
		read_inet(s, pid, inet[i]);
	read_unix(s, pid);
	qsort(s->v, s->n, sizeof(*s->v), by_ino);
	s->read = true;
}

char *socket_name(const struct socket_names *s, const char *link)
{
	struct socket_name key, *hit;

	if (sscanf(link, "socket:[%lu]", &key.ino) != 1 || !s->n)
		return NULL;
	hit = bsearch(&key, s->v, s->n, sizeof(*s->v), by_ino);
	return hit ? strdup(hit->name) : NULL;
}

void socket_names_free(struct socket_names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].name);
	free(s->v);
	memset(s, 0, sizeof(*s));
}
