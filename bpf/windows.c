/*
 * Stack windows between the kernel side and the unwinder: a window the
 * kernel copied (`windows` map) is read, unwound (unwind.c, which knows
 * nothing of BPF), its recipe written back (`recipes`, and recipes_gen
 * bumped: the kernel side's cached variants are stale), and deleted.
 */
#include <errno.h>
#include <stdlib.h>

#include <bpf/bpf.h>

#include "fdtrack_internal.h"
/* after it: the skeleton's globals (recipes_gen) */
#include "fdtrack.skel.h"

static void read_maps(void *ctx, uint32_t aspace, bool again)
{
	if (again)
		procs_reread_maps_for(ctx, aspace);
	else
		procs_read_maps_for(ctx, aspace);
}

int windows_unwind(struct fdtrack *t, const struct fdt_unwind_key *key)
{
	const struct maps_source maps = { read_maps, t };
	struct fdt_window *w = malloc(sizeof(*w));
	struct fdt_recipe recipe;
	int err;

	if (!w)
		return -ENOMEM;
	if (bpf_map_lookup_elem(map_fd(t, FDT_MAP_WINDOWS), key, w)) {
		free(w); /* unwound already (a record and a scan both) */
		return 0;
	}
	err = unwinder_add(&t->unwinder, &t->symbolizer, &maps, key, w,
			   &recipe);
	if (!err && recipe.nslots <= FDT_RECIPE_SLOTS) {
		/* a full recipe table only costs later opens their variant */
		bpf_map_update_elem(map_fd(t, FDT_MAP_RECIPES), key, &recipe,
				    BPF_ANY);
		__atomic_add_fetch(&t->bss->recipes_gen, 1, __ATOMIC_SEQ_CST);
	}
	bpf_map_delete_elem(map_fd(t, FDT_MAP_WINDOWS), key);
	free(w);
	return err;
}

int windows_pending(struct fdtrack *t)
{
	struct fdt_unwind_key keys[64], k, *prev = NULL;
	size_t n;
	int err = 0;

	/* not while iterating: a batch of keys, then unwind them */
	do {
		n = 0;
		prev = NULL;
		while (n < 64 &&
		       !bpf_map_get_next_key(map_fd(t, FDT_MAP_WINDOWS), prev,
					     &k)) {
			keys[n++] = k;
			prev = &keys[n - 1];
		}
		for (size_t i = 0; i < n && !err; i++)
			err = windows_unwind(t, &keys[i]);
	} while (n == 64 && !err);
	return err;
}
