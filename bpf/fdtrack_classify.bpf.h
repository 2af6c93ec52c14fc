/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Part of fdtrack.bpf.c (one BPF object; included once, after its maps):
 * what a table holds at a number (T, "the occupant") and which fd kind a
 * struct file is, the way /proc/PID/fd and common/fdkind.c name it.
 *
 * A file whose dentry has d_op->d_dname is a pseudo file: /proc shows a
 * made-up name ("anon_inode:[eventfd]", "socket:[N]", "pipe:[N]",
 * "net:[N]"), told apart here by its filesystem's magic; those of other
 * filesystems read "/NAME (deleted)" (simple_dname: memfds, ...) and count
 * as files reached by a path. Those are classified by their mode
 * (fdkind_of_mode), memfds ("/memfd:NAME (deleted)") by name.
 */
#ifndef FDTRACK_CLASSIFY_BPF_H
#define FDTRACK_CLASSIFY_BPF_H

/* uapi/linux/magic.h (vmlinux.h has no #defines) */
#define ANON_INODE_FS_MAGIC 0x09041934
#define PID_FS_MAGIC	    0x50494446
#define SOCKFS_MAGIC	    0x534F434B
#define PIPEFS_MAGIC	    0x50495045
#define NSFS_MAGIC	    0x6e736673

/* Kernel memory behind a plain number (a struct file *, ...): KGET(type,
 * p, field) reads p->field. Built twice (bpf/build.mk): with
 * FDT_KFUNC_READS, through the kfunc bpf_rdonly_cast() (Linux 6.2+), which
 * makes p a BTF pointer whose loads the JIT makes fault-safe, several times
 * cheaper than a helper call each (an open classifies its file once or
 * twice); without, through CO-RE relocated bpf_probe_read_kernel()
 * (BPF_CORE_READ), which every kernel has (6.1). User space loads the
 * first where the kernel's BTF has the kfunc (load.c). */
#ifdef FDT_KFUNC_READS
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define KGET(type, p, field)                                          \
	(((type *)bpf_rdonly_cast((void *)(p),                        \
				  bpf_core_type_id_kernel(type)))     \
		 ->field)
#else
#define KGET(type, p, field) BPF_CORE_READ((type *)(p), field)
#endif

/* An anonymous inode's name (a struct: a global function's pointer
 * argument needs a size). */
struct inode_name {
	char s[FDT_NAME_BYTES];
};

/* The present occupant T of a number, read before taking the entry's lock
 * (no helper calls under a spin lock). */
struct occupant {
	__u64 file;   /* struct file *, 0: the number is free */
	__u64 dentry; /* with file: the identity of an occupancy */
	int kind;     /* a selected kind, or -1: nothing tracked here */
	struct inode_name name; /* FDKIND_ANON: the inode's name */
};

/* The struct file at fd in a files_struct, read fresh (another thread may
 * have grown the table since). */
static __always_inline struct file *file_at(__u64 files, __u32 fd)
{
	struct fdtable *fdt = KGET(struct files_struct, files, fdt);
	struct file **slots;
	struct file *f = NULL;

	if (!fdt || fd >= KGET(struct fdtable, fdt, max_fds))
		return NULL;
	slots = KGET(struct fdtable, fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &slots[fd]);
	return f;
}

static __always_inline int anon_kind(const char *name)
{
	struct fdt_anon_slot *s;
	__u64 w0, w1;
	__u32 i, k;

	__builtin_memcpy(&w0, name, 8);
	__builtin_memcpy(&w1, name + 8, 8);
	i = fdt_anon_slot_of(w0, w1);
#pragma unroll
	for (__u32 p = 0; p < FDT_ANON_PROBES; p++) {
		k = (i + p) & (FDT_ANON_SLOTS - 1);
		s = bpf_map_lookup_elem(&anon_slots, &k);
		if (!s || !s->used)
			break;
		if (s->name[0] == w0 && s->name[1] == w1)
			return (int)s->kind;
	}
	return FDKIND_ANON;
}

static __always_inline int socket_kind(struct file *f)
{
	struct socket *sock = KGET(struct file, f, private_data);
	struct sock *sk = KGET(struct socket, sock, sk);

	return fdkind_of_family(KGET(struct sock, sk, __sk_common.skc_family));
}

/* A regular file that is the root of its own dentry tree (a pseudo
 * dentry) and named "memfd:..." is a memfd. */
static __always_inline bool is_memfd(struct dentry *d, char *name)
{
	if (KGET(struct dentry, d, d_parent) != d)
		return false;
	bpf_probe_read_kernel_str(name, FDT_NAME_BYTES,
				  KGET(struct dentry, d, d_name.name));
	return name[0] == 'm' && name[1] == 'e' && name[2] == 'm' &&
	       name[3] == 'f' && name[4] == 'd' && name[5] == ':';
}

/* The kind of struct file fp, or -1 if none or not selected (-k); in gets
 * the anon inode's name for FDKIND_ANON (zero-filled otherwise). A global
 * function: the verifier checks it once, not at every call. */
__noinline int classify(__u64 fp, struct inode_name *in)
{
	char *name = in ? in->s : NULL;
	const struct dentry_operations *ops;
	struct file *f;
	struct dentry *d;
	struct inode *ino;
	int kind;

	if (!name)
		return -1;
	__builtin_memset(name, 0, FDT_NAME_BYTES);
	if (!fp)
		return -1;
	f = (struct file *)fp;
	d = KGET(struct file, f, f_path.dentry);
	ino = KGET(struct file, f, f_inode);
	ops = KGET(struct dentry, d, d_op);
	if (ops && KGET(struct dentry_operations, ops, d_dname)) {
		struct super_block *sb = KGET(struct inode, ino, i_sb);

		switch (KGET(struct super_block, sb, s_magic)) {
		case ANON_INODE_FS_MAGIC:
			bpf_probe_read_kernel_str(name, FDT_NAME_BYTES,
						  KGET(struct dentry, d,
						       d_name.name));
			kind = anon_kind(name);
			break;
		case PID_FS_MAGIC:
			kind = FDKIND_PIDFD;
			break;
		case SOCKFS_MAGIC:
			kind = socket_kind(f);
			break;
		case PIPEFS_MAGIC:
			kind = FDKIND_PIPE;
			break;
		case NSFS_MAGIC:
			kind = FDKIND_OTHER; /* "net:[...]", "mnt:[...]" */
			break;
		default:
			kind = -2; /* "/NAME (deleted)": by mode, below */
			break;
		}
	} else {
		kind = -2;
	}
	if (kind == -2) {
		kind = fdkind_of_mode(KGET(struct inode, ino, i_mode));
		if (kind == FDKIND_FILE && is_memfd(d, name))
			kind = FDKIND_MEMFD;
	}
	if (kind != FDKIND_ANON)
		__builtin_memset(name, 0, FDT_NAME_BYTES);
	if (kind < 0 || kind >= FDKIND_COUNT ||
	    !(kind_mask & FDKIND_MASK(kind)))
		return -1;
	return kind;
}

/* T of fd in files (files is a struct files_struct *). Global, as
 * classify(). */
__noinline int occupant_read(struct occupant *c, __u64 files, __u32 fd)
{
	struct file *f;

	if (!c)
		return 0;
	f = file_at(files, fd);
	c->file = (__u64)f;
	c->dentry = f ? (__u64)KGET(struct file, f, f_path.dentry) : 0;
	c->kind = classify((__u64)f, &c->name);
	return 0;
}

#endif
