/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Out-of-line wrappers of the fscache static inlines rust/kernel_ext/fscache calls,
 * with the trace reasons cachefiles uses (the trace enums are not bound).
 * Each wrapper only forwards to the static inline (or macro) it is named
 * after; no logic lives here.
 */
#ifndef CFRS_FSCACHE_HELPERS_H
#define CFRS_FSCACHE_HELPERS_H

#include <linux/types.h>

struct fscache_cache;
struct fscache_cookie;
struct fscache_volume;

void cfrs_fscache_wait_for_objects(struct fscache_cache *cache);
struct fscache_volume *cfrs_volume_try_get(struct fscache_volume *volume);
void cfrs_volume_put(struct fscache_volume *volume);
void cfrs_volume_pin(struct fscache_volume *volume);
int cfrs_volume_accesses(const struct fscache_volume *volume);
const void *cfrs_fscache_get_key(struct fscache_cookie *cookie);
const void *cfrs_fscache_get_aux(struct fscache_cookie *cookie);
struct fscache_cookie *cfrs_cookie_get(struct fscache_cookie *cookie);
void cfrs_cookie_put(struct fscache_cookie *cookie);
void cfrs_cookie_end_io_access(struct fscache_cookie *cookie);
void cfrs_fscache_count_object(struct fscache_cache *cache);
void cfrs_fscache_uncount_object(struct fscache_cache *cache);
void cfrs_fscache_count_read(void);
void cfrs_fscache_count_write(void);
void cfrs_fscache_count_no_write_space(void);
void cfrs_fscache_count_no_create_space(void);
void cfrs_fscache_count_culled(void);
void cfrs_fscache_count_dio_misfit(void);
bool cfrs_cookie_test_flag(struct fscache_cookie *cookie, int bit);
void cfrs_cookie_set_flag(struct fscache_cookie *cookie, int bit, bool on);
bool cfrs_cookie_test_and_clear_flag(struct fscache_cookie *cookie, int bit);
/* The locks guarding cache_priv (see cookie.rs and volume.rs). */
void cfrs_cookie_lock(struct fscache_cookie *cookie);
void cfrs_cookie_unlock(struct fscache_cookie *cookie);
void cfrs_volume_lock(struct fscache_volume *volume);
void cfrs_volume_unlock(struct fscache_volume *volume);

#endif /* CFRS_FSCACHE_HELPERS_H */
