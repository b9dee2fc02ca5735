/*
 * The two macros of the layout files (layout.c, heif_layout.c): each
 * defines a symbol whose size build.rs reads from the object file.
 *
 * AVATAR_SIZE(name, type) records sizeof(type); AVATAR_OFFSET(name, type,
 * field) records offsetof(type, field) (+1, as an array can't be empty).
 */
#ifndef AVATAR_LAYOUT_H
#define AVATAR_LAYOUT_H

#include <stddef.h>

#define AVATAR_SIZE(name, type) \
  const unsigned char avatar_layout__##name##__SIZE[sizeof(type)] = { 0 };
#define AVATAR_OFFSET(name, type, field) \
  const unsigned char avatar_layout__##name##__##field[offsetof(type, field) + 1] = { 0 };

#endif
