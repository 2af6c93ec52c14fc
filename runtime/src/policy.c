/*
 * Drop-policy names. Kept apart from executor.c (no liburing here) so that
 * tools parsing a --policy option, and their fuzz targets, need only this.
 */
#include <errno.h>
#include <string.h>

#include "rex.h"

static const char *const policy_names[REX_DROP_POLICY_COUNT] = {
	[REX_DROP_FIXED] = "fixed",
	[REX_DROP_LEGACY_448] = "legacy-448",
	[REX_DROP_CLOSE_EVENTFD] = "close-eventfd",
	[REX_DROP_WEAK_NOTIFIER] = "weak-notifier",
	[REX_DROP_GLOMMIO_448] = "glommio-448",
	[REX_DROP_GLOMMIO_FIXED] = "glommio-fixed",
};

const char *rex_policy_name(enum rex_drop_policy policy)
{
	return (unsigned)policy < REX_DROP_POLICY_COUNT ? policy_names[policy]
							: NULL;
}

int rex_policy_parse(const char *name, enum rex_drop_policy *out)
{
	for (int p = 0; name && p < REX_DROP_POLICY_COUNT; p++) {
		if (strcmp(name, policy_names[p]) == 0) {
			*out = (enum rex_drop_policy)p;
			return 0;
		}
	}
	return -EINVAL;
}
