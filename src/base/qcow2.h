/* qcow2.h - what tern reads of a qcow2 image's header itself: its
 * backing file's name (a few hundred bytes read, no QEMU tool run, so
 * ternd's loop may call it). */
#pragma once

/* The backing file of image as a path (a relative name: relative to
 * image's directory), *ret NULL when it has none; caller frees.
 * -errno when image cannot be read, -EINVAL when it is not a qcow2 or
 * its backing file's name cannot be read. */
int qcow2_backing(const char *image, char **ret);
