// SPDX-License-Identifier: GPL-2.0
/*
 * Out-of-line wrappers of the fscache static inlines rust/kernel_ext/fscache calls,
 * with the trace reasons cachefiles uses (the trace enums are not bound).
 * See fscache/helpers.h.
 */

#include <linux/fscache-cache.h>
#include <trace/events/fscache.h>

#include "fscache/helpers.h"

void cfrs_fscache_wait_for_objects(struct fscache_cache *cache)
{
	fscache_wait_for_objects(cache);
}

struct fscache_volume *cfrs_volume_try_get(struct fscache_volume *volume)
{
	return fscache_try_get_volume(volume, fscache_volume_get_withdraw);
}

void cfrs_volume_put(struct fscache_volume *volume)
{
	fscache_put_volume(volume, fscache_volume_put_withdraw);
}

void cfrs_volume_pin(struct fscache_volume *volume)
{
	atomic_inc(&volume->n_accesses);
}

int cfrs_volume_accesses(const struct fscache_volume *volume)
{
	return atomic_read(&volume->n_accesses);
}

const void *cfrs_fscache_get_key(struct fscache_cookie *cookie)
{
	return fscache_get_key(cookie);
}

const void *cfrs_fscache_get_aux(struct fscache_cookie *cookie)
{
	return fscache_get_aux(cookie);
}

struct fscache_cookie *cfrs_cookie_get(struct fscache_cookie *cookie)
{
	return fscache_get_cookie(cookie, fscache_cookie_get_attach_object);
}

void cfrs_cookie_put(struct fscache_cookie *cookie)
{
	fscache_put_cookie(cookie, fscache_cookie_put_object);
}

void cfrs_cookie_end_io_access(struct fscache_cookie *cookie)
{
	fscache_end_cookie_access(cookie, fscache_access_io_end);
}

void cfrs_fscache_count_object(struct fscache_cache *cache)
{
	fscache_count_object(cache);
}

void cfrs_fscache_uncount_object(struct fscache_cache *cache)
{
	fscache_uncount_object(cache);
}

bool cfrs_cookie_test_flag(struct fscache_cookie *cookie, int bit)
{
	return test_bit(bit, &cookie->flags);
}

void cfrs_cookie_set_flag(struct fscache_cookie *cookie, int bit, bool on)
{
	if (on)
		set_bit(bit, &cookie->flags);
	else
		clear_bit(bit, &cookie->flags);
}

bool cfrs_cookie_test_and_clear_flag(struct fscache_cookie *cookie, int bit)
{
	return test_and_clear_bit(bit, &cookie->flags);
}

void cfrs_cookie_lock(struct fscache_cookie *cookie)
{
	spin_lock(&cookie->lock);
}

void cfrs_cookie_unlock(struct fscache_cookie *cookie)
{
	spin_unlock(&cookie->lock);
}

void cfrs_volume_lock(struct fscache_volume *volume)
{
	spin_lock(&volume->lock);
}

void cfrs_volume_unlock(struct fscache_volume *volume)
{
	spin_unlock(&volume->lock);
}

void cfrs_fscache_count_read(void)
{
	fscache_count_read();
}

void cfrs_fscache_count_write(void)
{
	fscache_count_write();
}

void cfrs_fscache_count_no_write_space(void)
{
	fscache_count_no_write_space();
}

void cfrs_fscache_count_no_create_space(void)
{
	fscache_count_no_create_space();
}

void cfrs_fscache_count_culled(void)
{
	fscache_count_culled();
}

void cfrs_fscache_count_dio_misfit(void)
{
	fscache_count_dio_misfit();
}
