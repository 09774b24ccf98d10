# SPDX-License-Identifier: MIT
# Warnings (STYLE.md 8) and hardening flags for every target.
set(OSTIA_WARNINGS
	-Wall -Wextra -Wformat=2 -Wformat-security -Wshadow
	-Wstrict-prototypes -Wmissing-prototypes -Wmissing-declarations
	-Wpointer-arith -Wcast-qual -Wcast-align -Wwrite-strings
	-Wnull-dereference -Wundef -Wvla -Wimplicit-fallthrough
	-Wno-unused-parameter)
add_compile_options(${OSTIA_WARNINGS})
if(OSTIA_WERROR)
	add_compile_options(-Werror)
endif()

# Hardening: fortify (needs optimisation), stack protector, PIE, full RELRO.
add_compile_options(-fstack-protector-strong -fstack-clash-protection
	-fno-strict-aliasing)
if(NOT OSTIA_SANITIZE)
	add_compile_options(-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2)
endif()
add_compile_options(-fPIE)
add_link_options(-pie -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack)

if(OSTIA_SANITIZE)
	add_compile_options(-fsanitize=address,undefined
		-fno-sanitize-recover=undefined -fno-omit-frame-pointer)
	add_link_options(-fsanitize=address,undefined)
endif()
