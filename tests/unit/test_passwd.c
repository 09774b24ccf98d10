/* SPDX-License-Identifier: MIT */
/*
 * test_passwd - Dovecot-compatible password schemes (passwd.c).
 *
 * The compatibility proof is dv_vectors below: every hash in it was
 * made by Dovecot 2.3.19.1 itself (Debian 12 dovecot-core) with
 *
 *   doveadm pw -s SCHEME [-r ROUNDS] -p PASSWORD
 *
 * for each PASSWORD of dv_passwords (the scheme and options are in the
 * comment above each group), and then re-checked with
 *
 *   doveadm pw -t HASH -p PASSWORD       (which must say "(verified)").
 *
 * doveadm cannot make yescrypt hashes: those were made with libxcrypt
 * (crypt_gensalt_rn("$y$", 0, ...) and crypt_rn) and checked by
 * `doveadm pw -t '{CRYPT}$y$...' -p PASSWORD` as above.  Dovecot 2.3's
 * {CRYPT} makes bcrypt ($2y$) hashes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "passwd.h"
#include "xalloc.h"

struct dv_vector {
	int pw;			/* index into dv_passwords */
	const char *hash;
};

static const char *const dv_passwords[] = {
	"secret",
	"",
	"x",
	"p\xc3\xa4ssw\xc3\xb6rd \xe2\x9c\x93 \xd0\xba\xd0\xbb\xd1\x8e\xd1\x87",
	"user:pass with spaces : ",
	("The quick brown fox jumps over the lazy dog; 0123456789 !#%&()*+,-./:"
	    ";<=>?@[]^_{|}~ long pw!! 123456"),
};

static const struct dv_vector dv_vectors[] = {
	/* doveadm pw -s SHA512-CRYPT */
	{ 0, "{SHA512-CRYPT}$6$33GG10YQWErhkhLg$b/2U7.XG/3Yw3kcKtNvhIgd.76Re27"
	    "Dpdl93DckAXtXjfqm4i5s/rOCgqjGjbyI8BUcsjg/MK35LrYJ2A8BK61" },
	{ 1, "{SHA512-CRYPT}$6$aMUQr.rmMuk5eJqo$U0lpkjJ5Podm1/UudAgoEcgjBk3fWK"
	    "9.oCQrOV67GG0dlAIvmTrz3tMMp4aoMVO7DndtZ4nY1LMRwyBnDCl/y1" },
	{ 2, "{SHA512-CRYPT}$6$Gnae4wk3baZNxo3t$cycxo6hZmvkbCcNkwAe/dFeyw970Dx"
	    "i8u/WIw6.0ac6yXZq2qEobMo23zjMxzUpiCAkihGKXlSRDK8KZQmM9v." },
	{ 3, "{SHA512-CRYPT}$6$QLXbQUHD2Egi4.iA$NJG8vCaXvHn1x/CwQje0Hv9jgRs8pV"
	    "Hxe6rJHQRWhenlkadWB1F37GJ6SBdCFmyFDsjz70y.k76Fr2l.OhRuZ/" },
	{ 4, "{SHA512-CRYPT}$6$iQwDUpWQknOexwO/$w2jkAQHGwePrxRUYn0kf74xVSMGPbO"
	    "7PINso6kFiIzhZEKtc0UEcYT6RaIU72ofnq0yAHAo8pbDdFc3GkUs6M0" },
	{ 5, "{SHA512-CRYPT}$6$Qrys5j9.UNea7ZL4$B6AYUWY.MnIYCVh0aavcoOJIMSwWkB"
	    ".pumy4b.msO7QGTkHCDJBZbN/ETd.nwKcn7uo1wvP14PrLdJYlY/ThZ1" },
	/* doveadm pw -s SHA512-CRYPT -r 10000 */
	{ 0, "{SHA512-CRYPT}$6$rounds=10000$3pWO4gYFA86MADj7$Z4nEKbXNCWzuyhDAX"
	    "u.qliZhRDnsPcWU8jAmrl6qLFgq.xtKaAu1JHFPOEH96TcudWjYaHEdIbkJfpwv/g"
	    "HzE0" },
	{ 1, "{SHA512-CRYPT}$6$rounds=10000$gnJ82EnvqRJiiGLd$lRw6D84qov5mvl2kM"
	    "DW9ij.H4T7L5HzJhRiqWX1BQ49.UOagU418JeISYpy51V2LRND.dm5Dn/xnWR9BQi"
	    "v3p1" },
	{ 2, "{SHA512-CRYPT}$6$rounds=10000$6uxSTiJ9I.2BKdYb$aqIrwsttyf8QO0knK"
	    "u62YKRL0xuqlHF/VgC89Ml43y2AO8XuYPTAFzxoeK.IWYJeE9OqIctH5wSMA3KIh."
	    "sgY." },
	{ 3, "{SHA512-CRYPT}$6$rounds=10000$T7gll4W/x5hIDrGX$w1Ksz5jUDo.pK3oKz"
	    ".QOslfdngpFwiNccUlZo/I4bWlIh3v78EKUwJWZL1Vi/sxyeomZ6If0eJsLZeNNFL"
	    "r.V1" },
	{ 4, "{SHA512-CRYPT}$6$rounds=10000$vjFZ6LKMO.afEDCQ$Jb8roWw2GBetqoxJz"
	    "7k4y5YaLdNrHVB7BE8s.17UlyvhYcjBBDxSBlt6cPXQVZ1OK6iBLeng4XneXbbgaz"
	    "yTI1" },
	{ 5, "{SHA512-CRYPT}$6$rounds=10000$xcM6DLbSLQPyM.4p$kQO/LYgd1YnVmlIZy"
	    "JVM9Nb.F80LuJ5KW/aIABB/0iVe.B7JOuqCvbTJdwXxn3XgsT8qb2Sbr08/tLEHDA"
	    "GE3/" },
	/* doveadm pw -s SHA256-CRYPT */
	{ 0, "{SHA256-CRYPT}$5$pRYDRCGs0ffsddfB$PpQloKQM4ciOM/PS05WMllaOQ6Wy00"
	    "1hlG.jDqZ27/2" },
	{ 1, "{SHA256-CRYPT}$5$P5fZyGm5a7Vtf2ri$kvXw6BfxMAiUKdl3ZAC3m9duaUW4ad"
	    "wyF5YuDtNWLdA" },
	{ 2, "{SHA256-CRYPT}$5$HTs9qPEFohG5TDqm$Wfbb3teSxoTb4KY9ay1g1sXkTEgps2"
	    "2yFmaDEPdXiz7" },
	{ 3, "{SHA256-CRYPT}$5$F.wToGpKCObSeSAK$ba0i8jUbcNd/7E5ptVYmhcFDNMMGer"
	    "WliFcGVnh3exA" },
	{ 4, "{SHA256-CRYPT}$5$wLJPxP8FV/LNxdB0$RUnNaEXxx4u4tEbhsaPbH..JLL02zQ"
	    "ASGpdtRCKn9HD" },
	{ 5, "{SHA256-CRYPT}$5$Hsu97c9EDbhBBULN$71VyRH/axP7QCO1EdNyFNgqLtdR/Y3"
	    "RoqkkrUEE4kU0" },
	/* doveadm pw -s BLF-CRYPT */
	{ 0, "{BLF-CRYPT}$2y$05$L87I8hy7zlm5EOHjPVVSDuBsWVKSyQUiosuIrbUEMqsnoE"
	    "YdrhzaS" },
	{ 1, "{BLF-CRYPT}$2y$05$UiN9.rY4CYQabLb8.xk5wO0x9/xw3TRGxBYQhetcQsC.HK"
	    "xjocPQW" },
	{ 2, "{BLF-CRYPT}$2y$05$RHyJtQwEDYUQin.8hwgeWOLSCqtW2u9QvgG6Mtalwi/xyS"
	    "Vblbomi" },
	{ 3, "{BLF-CRYPT}$2y$05$6cUMGm0NrH25vXLvYOLtJOnYeF5TL7dbJTjkaylT9F1l7S"
	    "RVVDMkm" },
	{ 4, "{BLF-CRYPT}$2y$05$tHQae1D7khWhaYadJFYQV.KmUkSsRQgAtgfLtr2QnGvT69"
	    "k4HLUeS" },
	{ 5, "{BLF-CRYPT}$2y$05$ueccur.kYVaRgnOYhd2heuMfgTnLvKxr017wEnFL3T7VMX"
	    "oyDgRa6" },
	/* doveadm pw -s BLF-CRYPT -r 6 */
	{ 0, "{BLF-CRYPT}$2y$06$GAnMpVudZbqjAdDh6IUVEu.BgQMphQ8BLYTPPGF6ed0CN/"
	    "lgKV3tS" },
	{ 1, "{BLF-CRYPT}$2y$06$meM3YQj9eLnbDAJ.w1bSWeKts6k/sS.3zh2reIHpCBGdi3"
	    "s5k6YUq" },
	{ 2, "{BLF-CRYPT}$2y$06$6IRC7hv0jYVaDGjwgLSe3eyVZeS7hq7hO4.9NXTI1jtR6i"
	    "QO8tf96" },
	{ 3, "{BLF-CRYPT}$2y$06$7eZIufVy7Oe3xy3olGHybOJb.aBRhiuyaVXgEfpk6hm8Pp"
	    "sG8PW0q" },
	{ 4, "{BLF-CRYPT}$2y$06$rRapYo79sSc3fEgP2fcoq.hS5e79SV.C3.hehiNjDECltv"
	    "vgXm9w6" },
	{ 5, "{BLF-CRYPT}$2y$06$88I9mymxJpg9PaflPMPBXeXv100Kz8YXuIfqdqkVsWA5gI"
	    "2ZomCuq" },
	/* doveadm pw -s CRYPT */
	{ 0, "{CRYPT}$2y$05$qnGJS9V6fwlVRfdAdDVl9OD4T1EUEFpwm8KCBsoF9pOYRgSla."
	    "CFi" },
	{ 1, "{CRYPT}$2y$05$a.PLswivVKaHnbDnIBwmve2wFQawdhcO3iDz9jnr.vOOHSxZCf"
	    "5CO" },
	{ 2, "{CRYPT}$2y$05$ZiA8UQDV6QmeY6vSe4gb6eD8ESREZW20vSS.hzuP.krQgaEpZb"
	    "Uvy" },
	{ 3, "{CRYPT}$2y$05$.j7nieia6YXGlfbeO4xqmuAtgJxGk1J1EilNtuddOHDOxKc23a"
	    "69e" },
	{ 4, "{CRYPT}$2y$05$BhXQh1XDZFBPeswKU9CrnOFIebQXcbvjpYaYLoNSGhcIdp8YXY"
	    "H2G" },
	{ 5, "{CRYPT}$2y$05$uiRvsdUbLCVJFGLYfZmz2.H8aVVlISSWVgOYGnwdkApficn6/9"
	    "GFG" },
	/* doveadm pw -s DES-CRYPT */
	{ 0, "{DES-CRYPT}xayBhdASYkssU" },
	{ 1, "{DES-CRYPT}n6/T4/hsFg47c" },
	{ 2, "{DES-CRYPT}CA4Oe3CMGuUAg" },
	{ 3, "{DES-CRYPT}eBYTB3hRWAM0g" },
	{ 4, "{DES-CRYPT}EYYfe6cI6QBjI" },
	{ 5, "{DES-CRYPT}onlsjHgIsM8AE" },
	/* doveadm pw -s MD5-CRYPT */
	{ 0, "{MD5-CRYPT}$1$o09NCod/$8RN68ZFQAXv3b2tmZOxTL/" },
	{ 1, "{MD5-CRYPT}$1$mByuYwft$PnIAuQoNZXv8HGhOxzAhn/" },
	{ 2, "{MD5-CRYPT}$1$lkD9ONtj$PyaeW3LQt8h8zLBGsPBBI." },
	{ 3, "{MD5-CRYPT}$1$dFakE2au$DISJ96A7cU06dtaYX1pTu1" },
	{ 4, "{MD5-CRYPT}$1$pyq474mt$QIcjYFKHe41PMiuQaDMX/." },
	{ 5, "{MD5-CRYPT}$1$MvRQVY.x$IOyIvQU9co8Nbw0YvGSfW/" },
	/* doveadm pw -s MD5 */
	{ 0, "{MD5}$1$/kAHL6Iu$zf1pF4ioXjJhmTTGUMO1y." },
	{ 1, "{MD5}$1$enDfif3k$WIacMNbXBOOJFo2SGn9mK0" },
	{ 2, "{MD5}$1$0l9oJBzN$2ea1FhiuUa3x/x4G79PuV." },
	{ 3, "{MD5}$1$BpInzvUQ$RW1qV4HnFOKBC/oTzPkZ11" },
	{ 4, "{MD5}$1$EC1uimH7$4ZUfuPO65hsruIVmHdwLv." },
	{ 5, "{MD5}$1$XAxTdjkT$uXN/CmHIeT.C1QGVQFLoO0" },
	/* doveadm pw -s SSHA512 */
	{ 0, "{SSHA512}GOnZw7ZYVnl9kz6j5BJKjkwbE7SoLrDHcleZSxQhBsoZIknOD0/8dgi"
	    "+/cJpMzgvhaxlEAtgiCvhCejJ8/txeB0xEzU=" },
	{ 1, "{SSHA512}nhwR3EzJB7MypaTFjO7dZ8voEzRyJ2Etm+Of79Ehn+VtfZSLTvs0BUL"
	    "Sg/MesqGEd1six8trV2G8+BaI2NVkwE7w1go=" },
	{ 2, "{SSHA512}c9DKALll7LLa6fIychIVQIav/DVV5HgW842NnpilnRuWHsmoN3C0Ld4"
	    "ngP26SmhOstSu9hoc0hspO5awCI1xuql3zhw=" },
	{ 3, "{SSHA512}polp7N3bzM2IzPa3eWbR04oepSGdhkXRu1jdZKreuK9j362Td4BhKoj"
	    "t6A9ubL4UQ3Od1aqh24rEOlgjqCWLW9hrzJ0=" },
	{ 4, "{SSHA512}F45gG9pk6U84S9zgJcjy3HDc+z6idPhlLCQhxpJ03D37RkY5WCtzY3u"
	    "5zmtXi015ZokLJb+/kaHHQPTLwuHBqIg58XQ=" },
	{ 5, "{SSHA512}23x4jmoWasqQNKIBjFqlpRlTPVnmrRl8U88fMmTE2Sf3pmEzQ+weZkb"
	    "ccFiMvmfbSVJAkOk9Nw0kU5NYilkYdgJYCYw=" },
	/* doveadm pw -s SSHA256 */
	{ 0, "{SSHA256}Ew8JNJQReYSpVwZZuqgfuZ+RSGqWdTYpDouSz71tHKEgLbOJ" },
	{ 1, "{SSHA256}hA9Gwa1vvYqwiJA0askfN+ZQzRJkgAt45yWZfotyJ6H2CQMl" },
	{ 2, "{SSHA256}vQar7x27rMJ5RO5Dl2yFkXs4cBcIl786T5mVwn7Q3+0/3EE0" },
	{ 3, "{SSHA256}a4ivBkCSDmem+S8X3yr/RHJN0XKBAHUzJFZCjyk1Aj3FywKJ" },
	{ 4, "{SSHA256}3/vYgS2/1omEmwPSn5pG79umb9z3q2HU8v8H4iSZuLBXVIDU" },
	{ 5, "{SSHA256}BAZALpWTdgNckSzqjslfodOjpIcrUYjr821eR9MBJfvk6/5Q" },
	/* doveadm pw -s SSHA */
	{ 0, "{SSHA}e1wFksxG/F/OBBFRYZVF+hi4tadFxGG4" },
	{ 1, "{SSHA}kpImCPu+C8hX3JQfjYBdS6CGwp2SLvIl" },
	{ 2, "{SSHA}5DP+p+HGjBKWr8izPFAUYc7onTgK/O3G" },
	{ 3, "{SSHA}XP2jBr0hF9ZxGXA7Q/X7yDbPs9oVaYBN" },
	{ 4, "{SSHA}yu7QZTV/O1unp+y6R+TU/pQeYi8b0oUK" },
	{ 5, "{SSHA}bWgyJ7+MqO3lSCY171NKdygSJkOrXUXm" },
	/* doveadm pw -s SMD5 */
	{ 0, "{SMD5}mDR43mpBQ4xvY1ZZopkUEjmifvU=" },
	{ 1, "{SMD5}pV+5B4KcbWzNgr19APgtomh8PyA=" },
	{ 2, "{SMD5}kDju2N9X1w2xzfICJ7rEEvo/71o=" },
	{ 3, "{SMD5}86khGZeAiUXjkxCjGq/GHC/s5ww=" },
	{ 4, "{SMD5}8i9mBn4pmzjbZIB7/Wg8q1S/9O8=" },
	{ 5, "{SMD5}HTFHOAXdSuIrCghDsXlO2OYYkKc=" },
	/* doveadm pw -s SHA512 */
	{ 0, "{SHA512}vSsar3708Jvp9Szi2NWZZ02Bqp1qRCFpbcTZPdBhnWgs5WtNZKnvCXdh"
	    "ztmeD2cmW192CF5bDufKRpayrW/isg==" },
	{ 1, "{SHA512}z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+D"
	    "GNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==" },
	{ 2, "{SHA512}pKvURIxJVi2CgRXROh/M6pJ/UrTVRZKX+LQ+QtqJI4vBNibkPcs43bCC"
	    "SIkn7JBPtCBXRDmD6IWFF51QVRr+Yg==" },
	{ 3, "{SHA512}y4L3pT8TK4mS2c93ow6PLq4iUznC9PSH/eXT/2Wc9HCKTiG1IKLfeQi2"
	    "98TBChAdEwBudQaGU94CE7o0k5Lb+Q==" },
	{ 4, "{SHA512}mWTIfqO5hjwFRgvC2Qa2DlhxIkkwc0YgaqQwtiYw/o2NJJ3jEFAntiT5"
	    "rK7fa2iDmHEz5KEmSpnDTqEKVrj5bw==" },
	{ 5, "{SHA512}YkKXhm2E4Xff56trXrxriXOqVRJL7V16E207cy+BSK0/aGPUhat0iPYQ"
	    "94qCI7o0XxUrOtt99ZZ8M95G3pk0Eg==" },
	/* doveadm pw -s SHA256 */
	{ 0, "{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=" },
	{ 1, "{SHA256}47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" },
	{ 2, "{SHA256}LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE=" },
	{ 3, "{SHA256}iJzYC069woAIw0ym3t4ieHnsQ8D5GkF3futSAqv3ExU=" },
	{ 4, "{SHA256}Qu6EGUNimX66g17tR4TS+BxoZd/JRFD3wUlCmQMDWXg=" },
	{ 5, "{SHA256}7rNQf19IkGmRtENG8L39rfBlGaWTc2akiBENI/rhxeE=" },
	/* doveadm pw -s SHA */
	{ 0, "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=" },
	{ 1, "{SHA}2jmj7l5rSw0yVb/vlWAYkK/YBwk=" },
	{ 2, "{SHA}EfatjsUqKYSrqv18O1FlA3hcIHI=" },
	{ 3, "{SHA}3PXjPgyHztjCYHgbMu4Cxo/xTTA=" },
	{ 4, "{SHA}kAUO6WE3DZBFa8fZftXNVBIGDeg=" },
	{ 5, "{SHA}X+wg9Lidq6XsYooUNMyIi3NqjNc=" },
	/* doveadm pw -s SHA1 */
	{ 0, "{SHA1}5en6G6MezRroT3XKqkdPOmY/BfQ=" },
	{ 1, "{SHA1}2jmj7l5rSw0yVb/vlWAYkK/YBwk=" },
	{ 2, "{SHA1}EfatjsUqKYSrqv18O1FlA3hcIHI=" },
	{ 3, "{SHA1}3PXjPgyHztjCYHgbMu4Cxo/xTTA=" },
	{ 4, "{SHA1}kAUO6WE3DZBFa8fZftXNVBIGDeg=" },
	{ 5, "{SHA1}X+wg9Lidq6XsYooUNMyIi3NqjNc=" },
	/* doveadm pw -s PLAIN-MD5 */
	{ 0, "{PLAIN-MD5}5ebe2294ecd0e0f08eab7690d2a6ee69" },
	{ 1, "{PLAIN-MD5}d41d8cd98f00b204e9800998ecf8427e" },
	{ 2, "{PLAIN-MD5}9dd4e461268c8034f5c8564e155c67a6" },
	{ 3, "{PLAIN-MD5}c32d6601b2bb002927c8f185cc079cf9" },
	{ 4, "{PLAIN-MD5}49607314431df242e67e2dadde2d4db8" },
	{ 5, "{PLAIN-MD5}d6633eba71025e5fa31ceea47403860c" },
	/* doveadm pw -s LDAP-MD5 */
	{ 0, "{LDAP-MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==" },
	{ 1, "{LDAP-MD5}1B2M2Y8AsgTpgAmY7PhCfg==" },
	{ 2, "{LDAP-MD5}ndTkYSaMgDT1yFZOFVxnpg==" },
	{ 3, "{LDAP-MD5}wy1mAbK7ACknyPGFzAec+Q==" },
	{ 4, "{LDAP-MD5}SWBzFEMd8kLmfi2t3i1NuA==" },
	{ 5, "{LDAP-MD5}1mM+unECXl+jHO6kdAOGDA==" },
	/* doveadm pw -s ARGON2ID */
	{ 0, "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$RhAtM5hLhq7tq3Loqd/kFg$"
	    "MZT6uHRkGyHHSJRqXzPJZL9oJw36mopbljC7s73remI" },
	{ 1, "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$TB4SIMggV/wH5SAeVPAgrA$"
	    "TKzbNHjiO3sVCNM56AWjR3BqPmWGEyEbHVyx/BDHBKU" },
	{ 2, "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$T9L482DWgJ2LiJzRPIefmw$"
	    "NEwVmicYBqQb9ksNQm73NsDiFsTkf5WwD2kxceIRnFE" },
	{ 3, "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$VOLSdmqphyT5vsbJBrC6Aw$"
	    "MCGqikIfh4AE8t6zt5ry6w9gTwzL8tTdvzJQakANVmE" },
	{ 4, "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$yOiukzuTpB9LLUac8fDfnQ$"
	    "bOe/+6UPzVvcOjDafPT1y8Dj4AQ9XYQfXhytPkB7020" },
	{ 5, "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$bf4a2KR2AdClYoDHR20zSg$"
	    "X7AlfJHdtsdcW4/xhyHFUKW4omsYGEKRccmsxWfxmf0" },
	/* doveadm pw -s ARGON2I */
	{ 0, "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$lTtJnScRYCryuAN1lVABwQ$S+"
	    "SbY6P7yFHMXePQYkIS3xiFGob5tleJ5+ZqboQa1rg" },
	{ 1, "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$GY+KIAFy/il2DqObRnCqXw$hL"
	    "4kVA3blQhDb6wI2W5oA9mKXL9pdGYeAqIvGyqdjSU" },
	{ 2, "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$uw5iq+wYk6xAEVgiRtCJOA$gz"
	    "IZI6t/cigyGByTUl5wxlzmOD4Ht+wvPoe7gjV4kQc" },
	{ 3, "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$qhY+lAtGzGT/xXYNg9vhRA$UN"
	    "/Fnd/ZM96wBA2No6rSAMHsBBWdZAdH69ZUIxsNav4" },
	{ 4, "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$5xyGIh3P5tk/qoQjmBuOIw$Q8"
	    "D2FD0HbwKaurNcutmIH1wB26VTrsdUi3DWtXX2W0I" },
	{ 5, "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$WuuurpPFKtEcK8wfu/YVJA$se"
	    "vqM8syDXB6IC5OJG9AFe2aQJj3+wHws0KCt8nYXvU" },
	/* doveadm pw -s PLAIN */
	{ 0, "{PLAIN}secret" },
	{ 1, "{PLAIN}" },
	{ 2, "{PLAIN}x" },
	{ 3, "{PLAIN}p\xc3\xa4ssw\xc3\xb6rd \xe2\x9c\x93 \xd0\xba\xd0\xbb\xd1"
	    "\x8e\xd1\x87" },
	{ 4, "{PLAIN}user:pass with spaces : " },
	{ 5, "{PLAIN}The quick brown fox jumps over the lazy dog; 0123456789 !"
	    "#%&()*+,-./:;<=>?@[]^_{|}~ long pw!! 123456" },
	/* doveadm pw -s CLEAR */
	{ 0, "{CLEAR}secret" },
	{ 1, "{CLEAR}" },
	{ 2, "{CLEAR}x" },
	{ 3, "{CLEAR}p\xc3\xa4ssw\xc3\xb6rd \xe2\x9c\x93 \xd0\xba\xd0\xbb\xd1"
	    "\x8e\xd1\x87" },
	{ 4, "{CLEAR}user:pass with spaces : " },
	{ 5, "{CLEAR}The quick brown fox jumps over the lazy dog; 0123456789 !"
	    "#%&()*+,-./:;<=>?@[]^_{|}~ long pw!! 123456" },
	/* doveadm pw -s CLEARTEXT */
	{ 0, "{CLEARTEXT}secret" },
	{ 1, "{CLEARTEXT}" },
	{ 2, "{CLEARTEXT}x" },
	{ 3, "{CLEARTEXT}p\xc3\xa4ssw\xc3\xb6rd \xe2\x9c\x93 \xd0\xba\xd0\xbb"
	    "\xd1\x8e\xd1\x87" },
	{ 4, "{CLEARTEXT}user:pass with spaces : " },
	{ 5, "{CLEARTEXT}The quick brown fox jumps over the lazy dog; 01234567"
	    "89 !#%&()*+,-./:;<=>?@[]^_{|}~ long pw!! 123456" },
	/* doveadm pw -s SCRAM-SHA-1 */
	{ 0, "{SCRAM-SHA-1}4096,zn8PlLeMwbAB4cufP2APvA==,gKM/H78wJ/F0n1BKKui0k"
	    "oBl3w8=,2dLuZIh/EzutAscU9PAun8B7l7U=" },
	{ 1, "{SCRAM-SHA-1}4096,s2ygcUCwzIhAMLd12UZMxA==,lFGoSnH17YCz+/F9AWpzy"
	    "9n5MsU=,bikdtlx69RGf9gF4QRV/TBlw/6U=" },
	{ 2, "{SCRAM-SHA-1}4096,aJSW65qEQkpvaDdfHTaTjA==,k1UoMaEci5jdycHSNe2nw"
	    "xDUg1M=,jZgtmhs6B4TqKamMXTHwUbsbJjQ=" },
	{ 3, "{SCRAM-SHA-1}4096,TYoG5G6OYvU4clXoI5MeZA==,5HoFZ7YXRX4YsrB4AFSo/"
	    "dckMb4=,XQ89051TgP5CXS3SeFh+msPmJJc=" },
	{ 4, "{SCRAM-SHA-1}4096,Sgv11zyXBHOLQnhj7t6s3g==,8POKyuhhtKesoKTZPbAR5"
	    "E1z+j0=,VZ5aC1MtszlwnZpBDIDtF5PBVhs=" },
	{ 5, "{SCRAM-SHA-1}4096,wsoDxDnRTSoPz7fDV64+zg==,hdkr3114xN5cdYxIiIrGc"
	    "deeGdE=,0u7AZcbB5/Yhnz403dxU6Im7H1A=" },
	/* doveadm pw -s SCRAM-SHA-256 */
	{ 0, "{SCRAM-SHA-256}4096,xs75BZ1r5BJX3UNhc+ZumQ==,cXW7uDO2OBAhw9efEiX"
	    "0hiyC6FVBxtAgBW/z09SO1ws=,X1WJYcGq0FfHuwSp6g2hKhxE8qX94OpBgWH2+kU"
	    "vS5k=" },
	{ 1, "{SCRAM-SHA-256}4096,8rkLL1znp2hUwRZyaEjdvw==,lKy742U3NT7wAcK8zZj"
	    "GxfUCT8tS6EW53JzTukoJTb0=,1y3bUxhiP5OXPP8xcgoNUHPMJ0dpbGhzPtWM43c"
	    "m92E=" },
	{ 2, "{SCRAM-SHA-256}4096,z/DNgaDJnhUHLqlDFTY/jA==,ae+JZZ0jpFQ/k/srFy5"
	    "zzpN1AEFcZKImxHOWqErusDc=,V2i06dop2rWX3lCy1+RtSz2uDG6ErI45fRSb/UQ"
	    "J2lc=" },
	{ 3, "{SCRAM-SHA-256}4096,HwNdSJgf9cR2CTuvD60rpw==,A2oRBdkrsqdUHw4aWh6"
	    "bteLMyUYfzFQAhbjcSbbRfLE=,jI5rmQYGCdTZjtssZR4J5TUUJzGHPQQDwH0tSUu"
	    "k2q8=" },
	{ 4, "{SCRAM-SHA-256}4096,lRXre1W2Xo0dzs71LClnug==,RFUCOYGQvHkngKZ9dU7"
	    "8LdT9R/Al809Jt9y3qqJZ+Tk=,w7zlyPg/fGQBfPEyHBxVnVBISFj2u7U6yZek5v8"
	    "1pA8=" },
	{ 5, "{SCRAM-SHA-256}4096,ejaOplFwHlljNau/r6BlmQ==,VmWys7NV9U0wHhlbEPK"
	    "SWMjE8EDLDGSvEKr/7s9yfxA=,vYVAxKctj6pi5JPfOJfJ95ISu/0oOseeIWRxkf+"
	    "Kg7o=" },
	/* doveadm pw -s PBKDF2 */
	{ 0, "{PBKDF2}$1$sIH96g74rurzHCaq$5000$1469e1829d15c154d2d8ac0a455afc6"
	    "8f5ecc897" },
	{ 1, "{PBKDF2}$1$gGRDjTuhaijqLGyr$5000$82ee60e5485b79f28db6aff12d53f2e"
	    "ff340ab5a" },
	{ 2, "{PBKDF2}$1$kLvVi35pWyJPbrgc$5000$f3312c97b0bced995b3480a09d8d119"
	    "1c8b962c1" },
	{ 3, "{PBKDF2}$1$0D6.W/kn3arF4mPc$5000$0b5d7358f7e07087048eed1ce9bb076"
	    "c1095cc15" },
	{ 4, "{PBKDF2}$1$X/kXR93PZj1hhA9r$5000$da66d980cd00ac30194be93426c016a"
	    "d8135255d" },
	{ 5, "{PBKDF2}$1$TSNomKhbfAfgltM3$5000$46a4d0f7b8066205962a143a11535b7"
	    "06b00ab08" },
	/* doveadm pw -s PBKDF2 -r 1000 */
	{ 0, "{PBKDF2}$1$B6f4.KvlfEaev2Io$1000$18eb113aa632f11c59001c3cedda671"
	    "0d2dcd0e2" },
	{ 1, "{PBKDF2}$1$tTLZG6k1QbygvOM9$1000$152f0e0cc1603b4b58620142cc9b6a4"
	    "40319f7de" },
	{ 2, "{PBKDF2}$1$/TSKhkioqZA9bTqu$1000$e9d310877774508d44da4528df449ba"
	    "0ff449563" },
	{ 3, "{PBKDF2}$1$aG.XAID38u3Kobxr$1000$349a12e783e46964e771e1ccdcd2644"
	    "9e105345c" },
	{ 4, "{PBKDF2}$1$orG9EWRFnHM50G8k$1000$439c09f999aa7879e7771b8612ca5f4"
	    "4a7232d9d" },
	{ 5, "{PBKDF2}$1$bFH6CzUogwHSjXKi$1000$5f9030f112319fc1ec631e169f18267"
	    "c2bb7e349" },
	/* doveadm pw -s SHA256.HEX */
	{ 0, "{SHA256.HEX}2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25f"
	    "e97bf527a25b" },
	{ 3, "{SHA256.HEX}889cd80b4ebdc28008c34ca6dede227879ec43c0f91a41777eeb"
	    "5202abf71315" },
	/* doveadm pw -s SHA512.HEX */
	{ 0, "{SHA512.HEX}bd2b1aaf7ef4f09be9f52ce2d8d599674d81aa9d6a4421696dc4"
	    "d93dd0619d682ce56b4d64a9ef097761ced99e0f67265b5f76085e5b0ee7ca469"
	    "6b2ad6fe2b2" },
	{ 3, "{SHA512.HEX}cb82f7a53f132b8992d9cf77a30e8f2eae225339c2f4f487fde5"
	    "d3ff659cf4708a4e21b520a2df7908b6f7c4c10a101d13006e75068653de0213b"
	    "a349392dbf9" },
	/* doveadm pw -s SHA.HEX */
	{ 0, "{SHA.HEX}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4" },
	{ 3, "{SHA.HEX}dcf5e33e0c87ced8c260781b32ee02c68ff14d30" },
	/* doveadm pw -s SHA512.b64 */
	{ 0, "{SHA512.B64}vSsar3708Jvp9Szi2NWZZ02Bqp1qRCFpbcTZPdBhnWgs5WtNZKnv"
	    "CXdhztmeD2cmW192CF5bDufKRpayrW/isg==" },
	{ 3, "{SHA512.B64}y4L3pT8TK4mS2c93ow6PLq4iUznC9PSH/eXT/2Wc9HCKTiG1IKLf"
	    "eQi298TBChAdEwBudQaGU94CE7o0k5Lb+Q==" },
	/* doveadm pw -s SSHA256.HEX */
	{ 0, "{SSHA256.HEX}3a1ab35c78bbb54dc179d3db6a0f161b021d32895ee627f4f92"
	    "19f56d3b95a016c4b1f9c" },
	{ 3, "{SSHA256.HEX}8e4f6670f52517c3a3767b9585e95efc6078935252ec2e5e1be"
	    "94b378bb1d8466ee656ba" },
	/* doveadm pw -s SSHA512.b64 */
	{ 0, "{SSHA512.B64}g/I2fJAsJiTePgnDf8kH4rBjSXeDKdWWsmzb6GEx0JVmKaTORR5"
	    "9P0Y+5+t1f7JniQEI1Jzc9o+azE0V0kLf9ZhkSCU=" },
	{ 3, "{SSHA512.B64}3Bmajne8Tu1DOtpKYZn2sqPV6DfIWRayCvC0oCcdNXjKIg9FpAo"
	    "gxnloQAWT3FlhAHGoBX2fSrJyhL1Fw4NjFIJpIt0=" },
	/* doveadm pw -s SMD5.HEX */
	{ 0, "{SMD5.HEX}a55520bd60014b0b59656572e42ad2f74534ee8e" },
	{ 3, "{SMD5.HEX}28a392c0372e4432fe4ac7ff1cf4006e9f3b530c" },
	/* doveadm pw -s PLAIN-MD5.b64 */
	{ 0, "{PLAIN-MD5.B64}Xr4ilOzQ4PCOq3aQ0qbuaQ==" },
	{ 3, "{PLAIN-MD5.B64}wy1mAbK7ACknyPGFzAec+Q==" },
	/* doveadm pw -s SHA512-CRYPT.HEX */
	{ 0, "{SHA512-CRYPT.HEX}2436244e78495059574d5635705532747a6b3424502e6e"
	    "5932574972622f7364696f52517863635238342f4130537a33676e47376f6f416"
	    "a634a6370344963494f4e36453275782e7a75664d677367317679733157556152"
	    "4564373953594f4a2f46337370796849522e" },
	{ 3, "{SHA512-CRYPT.HEX}243624496e6269425949756a6637703467756424596933"
	    "5970772f2f6e4744537270426c71582f6f41772f54617a615763364a625031386"
	    "5305968727078492e70505955754879596d5362736f556b544338342f5971796a"
	    "4a57782e4d4e614c584a3252415864764930" },
	/* doveadm pw -s BLF-CRYPT.b64 */
	{ 0, "{BLF-CRYPT.B64}JDJ5JDA1JHBZNUhBZEdFWHl5WjdQU0hrZDVMQnVXeDhackVJe"
	    "nZKamJ5b0dSbW56clNSWVo4cDhjZXAu" },
	{ 3, "{BLF-CRYPT.B64}JDJ5JDA1JFVsdkpZNkI2TUFpWXlCdEZVVC5BVGVsbVdYRVA5T"
	    "E9BaW5LVTdFUlloREJvbEdUVHprZDR1" },
	/* doveadm pw -s PLAIN.b64 */
	{ 0, "{PLAIN.B64}c2VjcmV0" },
	{ 3, "{PLAIN.B64}cMOkc3N3w7ZyZCDinJMg0LrQu9GO0Yc=" },
	/* doveadm pw -s PLAIN.HEX */
	{ 0, "{PLAIN.HEX}736563726574" },
	{ 3, "{PLAIN.HEX}70c3a4737377c3b6726420e29c9320d0bad0bbd18ed187" },
	/* ycrypt $y$ (libxcrypt), doveadm pw -t */
	{ 0, "{CRYPT}$y$j9T$hQSOIH9yOWCX5TdXhiqVM1$hYzD0kEuAdH0K5bIRF.KVjTGguf"
	    "hH8I7IIE.8qg2Fc5" },
	{ 1, "{CRYPT}$y$j9T$mg0/FOEorDnlTqHRUc1w0.$Izj2mSOKOoNzqZJ6/Ik8y2nfCiy"
	    "3feso47wnuMwt/M0" },
	{ 2, "{CRYPT}$y$j9T$3jef7n6rkujDb32N396Y5.$5559s.mNEjpVxeTEO0wqEYVsRaq"
	    "s7VUx5rZCY9oiFKA" },
	{ 3, "{CRYPT}$y$j9T$9dhgkvpjLUofm14fkNg7K/$160bl889AwusVKRR7hGH2D0EAn4"
	    "Gyjxq3uTXgdujicB" },
	{ 4, "{CRYPT}$y$j9T$6wZdPn.v5EF.n5RzObBBw/$g6417EZHjNeuYteBySCNVyLsa5Y"
	    "gYOdArf.3Fb5ShyC" },
	{ 5, "{CRYPT}$y$j9T$21fks64x/EhE3WrHGv8Vm1$gRNu6y87BSdtT9TQFzEzKNy1GfH"
	    "KsZRPEgkywR1LXh2" },
	/* Small parameters and two lanes: libargon2's argon2_hash()
	 * (m, t, p as shown), checked by doveadm pw -t. */
	{ 0, "{ARGON2I}$argon2i$v=19$m=128,t=2,p=2$c2FsdHNhbHRzYWx0$6138kr9HOfr"
	    "5/Eb2UNOAyz0ILLO4EAdTe6z38RQ5yOA" },
	{ 2, "{ARGON2ID}$argon2id$v=19$m=64,t=1,p=1$eHNhbHR4c2FsdA$BXQi38JlfvoY"
	    "b5eWtff9/FwgHW3frJknTni0Ctr22jA" },
	/* bcrypt's $2a$ and $2b$ forms (crypt_gensalt_rn("$2a$", 5, ...),
	 * ("$2b$", 4, ...)), checked by doveadm pw -t '{BLF-CRYPT}...'. */
	{ 0, "{BLF-CRYPT}$2a$05$1rSZ3i9UXEBMSphxI.ugb.wb4zhWhheHtB3.b/wbLXHB"
	    "fqCYOV5My" },
	{ 0, "{BLF-CRYPT}$2b$04$2pOzWFnICt1zkrTeTj2xpefNeGvE00OW0dfmqFUXlkxq"
	    "VFzlCjE5a" },
	/* yescrypt with 1 MiB (crypt_gensalt_rn("$y$", 1, ...)), checked
	 * by doveadm pw -t. */
	{ 0, "{CRYPT}$y$j75$KCqokR2n.ITxHw8bisQT1/$XQgU1iN.yFl4rzP02A6eVVnjzi"
	    "6/pr9wdJz2CDnJUjB" },
};

/* The data after "{...}", or the whole value. */
static const char *
data_of(const char *hash)
{
	const char *p = hash[0] == '{' ? strchr(hash, '}') : NULL;

	return p != NULL ? p + 1 : hash;
}

static bool
has_prefix(const char *hash, const char *prefix)
{
	return strncmp(hash, prefix, strlen(prefix)) == 0;
}

static bool
is_plain_vector(const char *hash)
{
	return has_prefix(hash, "{PLAIN}") || has_prefix(hash, "{PLAIN.") ||
	    has_prefix(hash, "{CLEAR");
}

/* Bytes of the password a scheme looks at: DES crypt 8, bcrypt 72. */
static size_t
significant_bytes(const char *hash)
{
	if (has_prefix(hash, "{DES-CRYPT}"))
		return 8;
	if (has_prefix(hash, "{BLF-CRYPT") || has_prefix(hash, "{CRYPT}$2"))
		return 72;
	return SIZE_MAX;
}

/* Argon2 takes a tenth of a second a check: fewer checks of those. */
static bool
is_slow_vector(const char *hash)
{
	return has_prefix(hash, "{ARGON2");
}

static enum passwd_result
verify(const char *pw, size_t len, const char *hash, bool *plain_r)
{
	char err[256] = "";
	bool plain = false;
	enum passwd_result r = passwd_verify(pw, len, hash, &plain, err,
	    sizeof(err));

	if (r == PASSWD_BAD_HASH)
		fprintf(stderr, "bad hash %s: %s\n", hash, err);
	if (plain_r != NULL)
		*plain_r = plain;
	return r;
}

/* Every Dovecot vector: right password matches, wrong ones do not. */
static void
test_dovecot_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(dv_vectors); i++) {
		const struct dv_vector *v = &dv_vectors[i];
		const char *pw = dv_passwords[v->pw];
		size_t len = strlen(pw);
		char wrong[256];
		bool plain;

		assert_true(len + 2 < sizeof(wrong));
		assert_int_equal(verify(pw, len, v->hash, &plain),
		    PASSWD_MATCH);
		assert_int_equal(plain, is_plain_vector(v->hash));

		if (is_slow_vector(v->hash) && v->pw != 0)
			continue;
		/* First byte changed (or one added to the empty one). */
		memcpy(wrong, pw, len + 1);
		if (len == 0)
			memcpy(wrong, "x", 2);
		else
			wrong[0] ^= 1;
		assert_int_equal(verify(wrong, strlen(wrong), v->hash, NULL),
		    PASSWD_MISMATCH);
		/* One byte added, one less (within what the scheme reads;
		 * see test_crypt_truncation for the rest). */
		if (len < significant_bytes(v->hash)) {
			memcpy(wrong, pw, len);
			memcpy(wrong + len, "!", 2);
			assert_int_equal(verify(wrong, len + 1, v->hash, NULL),
			    PASSWD_MISMATCH);
		}
		if (len > 0 && len <= significant_bytes(v->hash))
			assert_int_equal(verify(pw, len - 1, v->hash, NULL),
			    PASSWD_MISMATCH);

		/* The right password, then a NUL and more: crypt(3) would
		 * stop at the NUL, we never match. */
		memcpy(wrong, pw, len);
		memcpy(wrong + len, "\0x", 2);
		assert_int_equal(verify(wrong, len + 2, v->hash, NULL),
		    PASSWD_MISMATCH);
		assert_int_equal(verify(wrong, len + 1, v->hash, NULL),
		    PASSWD_MISMATCH);
	}
}

/* Schemes whose data Ostia recognises without the prefix. */
static const char *const unprefixable[] = {
	"{SHA512-CRYPT}", "{SHA256-CRYPT}", "{BLF-CRYPT}", "{CRYPT}",
	"{DES-CRYPT}", "{MD5-CRYPT}", "{MD5}", "{ARGON2ID}", "{ARGON2I}",
};

/* The same vectors without "{SCHEME}". */
static void
test_unprefixed_vectors(void **state)
{
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(dv_vectors); i++) {
		const struct dv_vector *v = &dv_vectors[i];
		const char *pw = dv_passwords[v->pw];
		const char *bare = data_of(v->hash);
		char buf[PASSWD_SCHEME_NAME_MAX];
		bool ok = false;

		for (size_t j = 0; j < N_ELEMENTS(unprefixable); j++)
			ok |= has_prefix(v->hash, unprefixable[j]);
		if (!ok || (is_slow_vector(v->hash) && v->pw != 0))
			continue;
		n++;
		assert_non_null(passwd_scheme_of(bare, buf, sizeof(buf)));
		assert_int_equal(verify(pw, strlen(pw), bare, NULL),
		    PASSWD_MATCH);
		if (!is_slow_vector(v->hash))
			assert_int_equal(verify("wrong", 5, bare, NULL),
			    PASSWD_MISMATCH);
	}
	assert_true(n >= 50);
}

/* What passwd_scheme_of reports. */
static void
test_scheme_of(void **state)
{
	static const struct {
		const char *stored;
		const char *want;
	} cases[] = {
		{ "{SHA512-CRYPT}$6$x$y", "SHA512-CRYPT" },
		{ "{sha512-crypt}whatever", "SHA512-CRYPT" },
		{ "{Ssha256.hex}00", "SSHA256.HEX" },
		{ "{SHA512.b64}", "SHA512.B64" },
		{ "{plain.base64}", "PLAIN.BASE64" },
		{ "{CLEARTEXT}a", "CLEARTEXT" },
		{ "{scram-sha-256}1,2,3,4", "SCRAM-SHA-256" },
		{ "$6$salt$h", "SHA512-CRYPT" },
		{ "$5$salt$h", "SHA256-CRYPT" },
		{ "$2y$05$h", "BLF-CRYPT" },
		{ "$2b$05$h", "BLF-CRYPT" },
		{ "$2a$05$h", "BLF-CRYPT" },
		{ "$1$salt$h", "MD5-CRYPT" },
		{ "$y$j9T$salt$h", "CRYPT" },
		{ "MQT1fkJmoUjws", "CRYPT" },
		{ "$argon2id$v=19$m=8,t=1,p=1$a$b", "ARGON2ID" },
		{ "$argon2i$v=19$m=8,t=1,p=1$a$b", "ARGON2I" },
		{ "$argon2d$v=19$m=8,t=1,p=1$a$b", NULL },
		{ "$3$$8846f7eaee8fb117ad06bdd830b7586c", NULL },
		{ "MQT1fkJmoUjw", NULL },
		{ "secret", NULL },
		{ "", NULL },
		{ "{NOPE}x", NULL },
		{ "{SHA256.HEXX}x", NULL },
		{ "{SHA256", NULL },
		{ "{}x", NULL },
		{ "{SHA 256}x", NULL },
	};
	char buf[PASSWD_SCHEME_NAME_MAX], small[5];

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		const char *got = passwd_scheme_of(cases[i].stored, buf,
		    sizeof(buf));

		if (cases[i].want == NULL)
			assert_null(got);
		else {
			assert_ptr_equal(got, buf);
			assert_string_equal(got, cases[i].want);
		}
	}
	assert_null(passwd_scheme_of("{SHA512-CRYPT}x", small,
	    sizeof(small)));
	assert_string_equal(passwd_scheme_of("{SHA}x", small, sizeof(small)),
	    "SHA");
	assert_null(passwd_scheme_of(NULL, buf, sizeof(buf)));
}

/* Prefix case, the plaintext flag, err optional. */
static void
test_prefix_and_plain(void **state)
{
	bool plain = true;
	char err[128];

	(void)state;
	assert_int_equal(verify("secret", 6,
	    "{sha}5en6G6MezRroT3XKqkdPOmY/BfQ=", &plain), PASSWD_MATCH);
	assert_false(plain);
	assert_int_equal(verify("secret", 6, "{Plain}secret", &plain),
	    PASSWD_MATCH);
	assert_true(plain);
	/* The flag is set whatever the result. */
	plain = false;
	assert_int_equal(verify("secreT", 6, "{CLEAR}secret", &plain),
	    PASSWD_MISMATCH);
	assert_true(plain);
	assert_int_equal(passwd_verify("secret", 6, "{CLEARTEXT}secret",
	    NULL, NULL, 0), PASSWD_MATCH);
	assert_int_equal(passwd_verify("secret", 6, "{FOO}secret", NULL,
	    NULL, 0), PASSWD_BAD_HASH);
	/* PLAIN is compared whole, not as a prefix. */
	assert_int_equal(verify("secre", 5, "{PLAIN}secret", NULL),
	    PASSWD_MISMATCH);
	assert_int_equal(verify("secrets", 7, "{PLAIN}secret", NULL),
	    PASSWD_MISMATCH);
	assert_int_equal(verify("", 0, "{PLAIN}", NULL), PASSWD_MATCH);
	assert_int_equal(verify(NULL, 0, "{PLAIN}", NULL), PASSWD_MATCH);
	/* Dovecot's CRYPT family runs crypt(3) on whatever format the
	 * data has (checked: doveadm pw -t '{SHA512-CRYPT}$y$...' says
	 * "(verified)"); BLF-CRYPT and MD5-CRYPT insist on their own. */
	assert_int_equal(verify("secret", 6, "{SHA512-CRYPT}$y$j75$KCqokR2n.I"
	    "TxHw8bisQT1/$XQgU1iN.yFl4rzP02A6eVVnjzi6/pr9wdJz2CDnJUjB", NULL),
	    PASSWD_MATCH);
	assert_int_equal(verify("secret", 6, "{SHA256-CRYPT}$1$wd2F.y.C$3Aq3."
	    "lMU5TshhA4/r9G15.", NULL), PASSWD_MATCH);
	assert_int_equal(passwd_verify("secret", 6, "{BLF-CRYPT}$1$wd2F.y.C$3"
	    "Aq3.lMU5TshhA4/r9G15.", NULL, err, sizeof(err)),
	    PASSWD_BAD_HASH);
	/* Unpadded base64 is not what Dovecot accepts for digests. */
	assert_int_equal(passwd_verify("secret", 6,
	    "{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols", NULL, err,
	    sizeof(err)), PASSWD_BAD_HASH);
	/* A digest in hex without a suffix is recognised by its length,
	 * as Dovecot does. */
	assert_int_equal(verify("secret", 6, "{SHA256}2bb80d537b1da3e38bd303"
	    "61aa855686bde0eacd7162fef6a25fe97bf527a25b", NULL),
	    PASSWD_MATCH);
	assert_int_equal(verify("secret", 6,
	    "{PLAIN-MD5.B64}Xr4ilOzQ4PCOq3aQ0qbuaQ==", NULL), PASSWD_MATCH);
	assert_int_equal(verify("secret", 6,
	    "{LDAP-MD5}5ebe2294ecd0e0f08eab7690d2a6ee69", NULL),
	    PASSWD_MATCH);
}

/* DES crypt reads 8 bytes and bcrypt 72, in Dovecot as here. */
static void
test_crypt_truncation(void **state)
{
	/* doveadm pw -s DES-CRYPT -p 'user:pass with spaces';
	 * doveadm pw -t ... -p 'user:pasXXXX' says "(verified)". */
	static const char des[] = "{DES-CRYPT}3xmIMUw3NHzVM";
	/* doveadm pw -s BLF-CRYPT -p <72 times 'a'>; verified with
	 * 72 'a' and "bbb" after them. */
	static const char blf[] = "{BLF-CRYPT}$2y$05$.0y10Cry10tjr/Wr/XmLreY5"
	    "WRD2DrJL.ceCCV1PKZMAhgeaREq7q";
	char pw[80];

	(void)state;
	assert_int_equal(verify("user:pasXXXX", 12, des, NULL), PASSWD_MATCH);
	assert_int_equal(verify("user:pa", 7, des, NULL), PASSWD_MISMATCH);
	memset(pw, 'a', 72);
	memcpy(pw + 72, "bbb", 4);
	assert_int_equal(verify(pw, 75, blf, NULL), PASSWD_MATCH);
	assert_int_equal(verify(pw, 72, blf, NULL), PASSWD_MATCH);
	assert_int_equal(verify(pw, 71, blf, NULL), PASSWD_MISMATCH);
}

/* Values that are not hashes we accept: PASSWD_BAD_HASH with a reason
 * that does not quote the data. */
static const char *const bad_hashes[] = {
	"",
	"secret",
	"5en6G6MezRroT3XKqkdPOmY/BfQ=",
	"{SHA512-CRYPT",
	"{SHA512-CRYPT$6$abcdefgh$ijklmnop",
	"{}abcdefgh",
	"{NOPE}abcdefgh",
	"{SHA 1}abcdefgh",
	"{SHA256.XYZ}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=",
	"{SHA256.}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=",
	"{SHA256.HEX.B64}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=",
	/* Digests: truncated, wrong length, not base64 or hex. */
	"{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unol",
	"{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/U=",
	"{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=K7gN",
	"{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Uno s=",
	"{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=5en6G6MezRroT3XKqk==",
	"{SHA}",
	"{SHA512}!!!!",
	"{SHA256.HEX}2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97b"
	    "f527a25",
	"{SHA256.HEX}2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97b"
	    "f527a2zz",
	"{SHA256.HEX}2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97b"
	    "f527a25b00",
	"{PLAIN-MD5}5ebe2294ecd0e0f08eab7690d2a6ee6",
	/* Salted digests without a salt, or not base64. */
	"{SSHA}5en6G6MezRroT3XKqkdPOmY/BfQ=",
	"{SSHA}5en6G6Me",
	"{SSHA}",
	"{SSHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=",
	"{SSHA512.HEX}abcdefgh",
	"{SMD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==",
	/* SHA-crypt. */
	"{SHA512-CRYPT}$6$abc",
	"{SHA512-CRYPT}$6$salt$short",
	"{SHA512-CRYPT}$6$saltsaltsaltsaltX$3s8LTgdTH1hICA7PypSyZYcDSAz2amF.I"
	    "5860p71EJTTltaE.ofZZ23JWPtcWElp.TdVYY.weOO6QM0ssGfZ4/",
	"{SHA512-CRYPT}$6$rounds=999999999$HQ28vaPMPl7z0Idr$Z8fymIAEDTUAmbbZdo"
	    "X6gmT5r076txX5.OWev2kUEkw6fAb/2VrWPCjWnVqO0Kq3Nxx5gBshPValqaTLj7"
	    "Vko.",
	"$6$rounds=100$HQ28vaPMPl7z0Idr$Z8fymIAEDTUAmbbZdoX6gmT5r076txX5.OWev"
	    "2kUEkw6fAb/2VrWPCjWnVqO0Kq3Nxx5gBshPValqaTLj7Vko.",
	"$6$rounds=$HQ28vaPMPl7z0Idr$Z8fymIAEDTUAmbbZdoX6gmT5r076txX5.OWev"
	    "2kUEkw6fAb/2VrWPCjWnVqO0Kq3Nxx5gBshPValqaTLj7Vko.",
	"$6$rounds=010000$HQ28vaPMPl7z0Idr$Z8fymIAEDTUAmbbZdoX6gmT5r076txX5.O"
	    "Wev2kUEkw6fAb/2VrWPCjWnVqO0Kq3Nxx5gBshPValqaTLj7Vko.",
	"$6$HQ28vaPMPl7z0Idr$Z8fymIAEDTUAmbbZdoX6gmT5r076txX5.OWev2kUEkw6fAb/"
	    "2VrWPCjWnVqO0Kq3Nxx5gBshPValqaTLj7Vko.extra",
	"$5$salt$AJ7Xzrn8I68EEiNcxYdvZ3egNHyXi7iqEVexH0a45m",
	/* bcrypt: cost over the cap, malformed cost, wrong family. */
	"{BLF-CRYPT}$2y$31$OABLw8S23LToGwtFc4ou7u8v6hQXJyxoE51b1/D6bRf/HHYyM"
	    "26v2",
	"{BLF-CRYPT}$2y$15$OABLw8S23LToGwtFc4ou7u8v6hQXJyxoE51b1/D6bRf/HHYyM"
	    "26v2",
	"{BLF-CRYPT}$2y$03$OABLw8S23LToGwtFc4ou7u8v6hQXJyxoE51b1/D6bRf/HHYyM"
	    "26v2",
	"{BLF-CRYPT}$2y$5$OABLw8S23LToGwtFc4ou7u8v6hQXJyxoE51b1/D6bRf/HHYyM2"
	    "6v2",
	"{BLF-CRYPT}$2y$05$OABLw8S23LToGwtFc4ou7u8v6hQXJyxoE51b1/D6bRf/HHYyM"
	    "26v",
	"{BLF-CRYPT}$2x$05$OABLw8S23LToGwtFc4ou7u8v6hQXJyxoE51b1/D6bRf/HHYyM"
	    "26v2",
	"{BLF-CRYPT}$1$wd2F.y.C$3Aq3.lMU5TshhA4/r9G15.",
	"{MD5-CRYPT}$2y$05$OABLw8S23LToGwtFc4ou7u8v6hQXJyxoE51b1/D6bRf/HHYyM"
	    "26v2",
	"{MD5-CRYPT}$1$wd2F.y.C$3Aq3.lMU5TshhA4/r9G15",
	"{MD5-CRYPT}$1$wd2F.y.Cx$3Aq3.lMU5TshhA4/r9G15.",
	/* Other crypt formats are refused. */
	"{CRYPT}$3$$8846f7eaee8fb117ad06bdd830b7586c",
	"{CRYPT}_J9..CCCCXBrJUJV154M",
	"{CRYPT}$7$CU..../....2VvLvjCGGUdxCoxc8yd2f0$o7yz7dEj9g54j/MT1gJgOMtIg"
	    "mN1QnLvzSQOw3XPUX5",
	"{CRYPT}$sha1$40000$jtNX3nZ2$hBNaIXkt4wBI2o5rsi8KejSjNqIq",
	"{CRYPT}$gy$j9T$salt$hash",
	"{CRYPT}MQT1fkJmoUjw",
	"{CRYPT}MQT1fkJmoUjw!",
	/* yescrypt: truncated, N out of one character, memory over cap,
	 * extra parameters. */
	"{CRYPT}$y$j9T$salt",
	"{CRYPT}$y$jzT$Ecr9xennzgZX2y4TSC0Dv/$n9HEnqzA2/UGtj8QgCWuavVaSKjWid.F"
	    "7dyslpNL5p4",
	"{CRYPT}$y$jJT$Ecr9xennzgZX2y4TSC0Dv/$n9HEnqzA2/UGtj8QgCWuavVaSKjWid.F"
	    "7dyslpNL5p4",
	"{CRYPT}$y$j9T3$Ecr9xennzgZX2y4TSC0Dv/$n9HEnqzA2/UGtj8QgCWuavVaSKjWid."
	    "F7dyslpNL5p4",
	"{CRYPT}$y$j9T$$n9HEnqzA2/UGtj8QgCWuavVaSKjWid.F7dyslpNL5p4",
	/* argon2: over the caps, malformed, wrong type for the label. */
	"{ARGON2ID}$argon2id$v=19$m=4194304,t=3,p=1$6jBGEhmeyoAAIFmZgA6ONQ$jr"
	    "Mr8DOQ39b1wrQRSNG03H6R/ju3yt/JpULv00Sy48w",
	"{ARGON2ID}$argon2id$v=19$m=65536,t=100,p=1$6jBGEhmeyoAAIFmZgA6ONQ$jr"
	    "Mr8DOQ39b1wrQRSNG03H6R/ju3yt/JpULv00Sy48w",
	"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=64$6jBGEhmeyoAAIFmZgA6ONQ$jr"
	    "Mr8DOQ39b1wrQRSNG03H6R/ju3yt/JpULv00Sy48w",
	"{ARGON2ID}$argon2id$v=19$m=262144,t=5,p=1$6jBGEhmeyoAAIFmZgA6ONQ$jr"
	    "Mr8DOQ39b1wrQRSNG03H6R/ju3yt/JpULv00Sy48w",
	"{ARGON2ID}$argon2id$v=19$m=99999999999,t=3,p=1$6jBGEhmeyoAAIFmZgA6"
	    "ONQ$jrMr8DOQ39b1wrQRSNG03H6R/ju3yt/JpULv00Sy48w",
	"{ARGON2ID}$argon2id$v=19$m=4,t=3,p=1$6jBGEhmeyoAAIFmZgA6ONQ$jrMr8DOQ"
	    "39b1wrQRSNG03H6R/ju3yt/JpULv00Sy48w",
	"{ARGON2ID}$argon2id$v=19$m=65536,t=0,p=1$6jBGEhmeyoAAIFmZgA6ONQ$jrMr"
	    "8DOQ39b1wrQRSNG03H6R/ju3yt/JpULv00Sy48w",
	"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=0$6jBGEhmeyoAAIFmZgA6ONQ$jrMr"
	    "8DOQ39b1wrQRSNG03H6R/ju3yt/JpULv00Sy48w",
	"{ARGON2ID}$argon2id$v=19$m=65536,t=3$6jBGEhmeyoAAIFmZgA6ONQ$jrMr8DOQ"
	    "39b1wrQRSNG03H6R/ju3yt/JpULv00Sy48w",
	"{ARGON2ID}$argon2id$v=20$m=65536,t=3,p=1$6jBGEhmeyoAAIFmZgA6ONQ$jrMr"
	    "8DOQ39b1wrQRSNG03H6R/ju3yt/JpULv00Sy48w",
	"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$6jBGEh$jrMr8DOQ39b1wrQRSNG0"
	    "3H6R/ju3yt/JpULv00Sy48w",
	"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$6jBGEhmeyoAAIFmZgA6ONQ6jBGE"
	    "hmeyoAAIFmZgA6ONQ6jBGEhmeyoAAIFmZgA6ONQ6jBGEhmeyoAAIFmZgA6ONQ6jBG"
	    "Ehm"
	    "eyoAAIFmZgA6ONQ$jrMr8DOQ39b1wrQRSNG03H6R/ju3yt/JpULv00Sy48w",
	"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$6jBGEhmeyoAAIFmZgA6ONQ$jrM",
	"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$6jBGEhmeyoAAIFmZgA6ONQ==$jr"
	    "Mr8DOQ39b1wrQRSNG03H6R/ju3yt/JpULv00Sy48w",
	"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$6jBGEhmeyoAAIFmZgA6ONQ",
	"{ARGON2ID}$argon2i$v=19$m=32768,t=4,p=1$ih1NQtE5Sc75v/akrTxDWA$rGT04"
	    "TDxssGZTtaKL9e5Jqx7ghvahlj0Qc2RMqI6Ics",
	"{ARGON2I}$argon2id$v=19$m=65536,t=3,p=1$6jBGEhmeyoAAIFmZgA6ONQ$jrMr8"
	    "DOQ39b1wrQRSNG03H6R/ju3yt/JpULv00Sy48w",
	"$argon2d$v=19$m=65536,t=3,p=1$6jBGEhmeyoAAIFmZgA6ONQ$jrMr8DOQ39b1wrQ"
	    "RSNG03H6R/ju3yt/JpULv00Sy48w",
	"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1,keyid=x$6jBGEhmeyoAAIFmZgA6"
	    "ONQ$jrMr8DOQ39b1wrQRSNG03H6R/ju3yt/JpULv00Sy48w",
	/* SCRAM: zero or too many iterations, fields missing or wrong. */
	"{SCRAM-SHA-256}0,tDOMQO6aLYiOHCGWwm04ow==,nHb6m0kkQkqpyox03oVsbA1G8N"
	    "DrCZuO7fH3J4u9jAo=,MmALJ9/hfD2SesUk+oyyGTAZONfv08U0EeebZvjCfYY=",
	"{SCRAM-SHA-256}99999999,tDOMQO6aLYiOHCGWwm04ow==,nHb6m0kkQkqpyox03oV"
	    "sbA1G8NDrCZuO7fH3J4u9jAo=,MmALJ9/hfD2SesUk+oyyGTAZONfv08U0EeebZvjC"
	    "fYY=",
	"{SCRAM-SHA-256}4096,tDOMQO6aLYiOHCGWwm04ow==,nHb6m0kkQkqpyox03oVsbA1"
	    "G8NDrCZuO7fH3J4u9jAo=",
	"{SCRAM-SHA-256}4096,tDOMQO6aLYiOHCGWwm04ow==,nHb6m0kkQkqpyox03oVsbA1"
	    "G8NDrCZuO7fH3J4u9jAo=,MmALJ9/hfD2SesUk+oyyGTAZONfv08U0EeebZvjCfYY"
	    "=,",
	"{SCRAM-SHA-256}4096,,nHb6m0kkQkqpyox03oVsbA1G8NDrCZuO7fH3J4u9jAo=,Mm"
	    "ALJ9/hfD2SesUk+oyyGTAZONfv08U0EeebZvjCfYY=",
	"{SCRAM-SHA-1}4096,tDOMQO6aLYiOHCGWwm04ow==,nHb6m0kkQkqpyox03oVsbA1G8"
	    "NDrCZuO7fH3J4u9jAo=,MmALJ9/hfD2SesUk+oyyGTAZONfv08U0EeebZvjCfYY=",
	/* PBKDF2. */
	"{PBKDF2}$1$X1qdhrK/gEJzioff$5000$1c27d56f2085ae50d79fe19f56a0ab2d1d1f"
	    "8ca",
	"{PBKDF2}$1$X1qdhrK/gEJzioff$0$1c27d56f2085ae50d79fe19f56a0ab2d1d1f8c"
	    "ad",
	"{PBKDF2}$1$$5000$1c27d56f2085ae50d79fe19f56a0ab2d1d1f8cad",
	"{PBKDF2}$1$X1qdhrK/gEJzioff$50000000$1c27d56f2085ae50d79fe19f56a0ab2d"
	    "1d1f8cad",
	"{PBKDF2}$2$X1qdhrK/gEJzioff$5000$1c27d56f2085ae50d79fe19f56a0ab2d1d1f"
	    "8cad",
	/* Encoded forms with bad data, or a NUL once decoded. */
	"{PLAIN.HEX}736563726574a",
	"{PLAIN.B64}c2VjcmV0=",
	"{SHA512-CRYPT.HEX}24362400",
	"{SHA512-CRYPT.B64}JDYkAA==",
};

static void
test_bad_hashes(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(bad_hashes); i++) {
		const char *h = bad_hashes[i];
		const char *data = data_of(h);
		char err[256] = "";
		enum passwd_result r;

		r = passwd_verify("secret", 6, h, NULL, err, sizeof(err));
		if (r != PASSWD_BAD_HASH)
			fprintf(stderr, "not refused: %s\n", h);
		assert_int_equal(r, PASSWD_BAD_HASH);
		assert_true(err[0] != '\0');
		/* The reason names the scheme at most, never the data. */
		if (strlen(data) >= 6)
			assert_null(strstr(err, data));
		assert_null(strstr(err, "secret"));
	}
}

/* Lengths: password and stored value bounds. */
static void
test_bounds(void **state)
{
	char *pw = xmalloc(PASSWD_MAX_PASSWORD_BYTES + 2);
	char *stored = xmalloc(PASSWD_MAX_STORED_BYTES + 2);
	char err[256];
	char *h;

	(void)state;
	/* A 1024-byte password is compared; 1025 bytes never match. */
	memset(pw, 'p', PASSWD_MAX_PASSWORD_BYTES + 1);
	pw[PASSWD_MAX_PASSWORD_BYTES + 1] = '\0';
	memcpy(stored, "{PLAIN}", 7);
	memset(stored + 7, 'p', PASSWD_MAX_STORED_BYTES - 7);
	stored[PASSWD_MAX_STORED_BYTES] = '\0';
	assert_int_equal(verify(pw, PASSWD_MAX_STORED_BYTES - 7, stored,
	    NULL), PASSWD_MATCH);
	memcpy(stored, "{PLAIN.HEX}", 11);
	memset(stored + 11, '7', PASSWD_MAX_STORED_BYTES - 11);
	stored[PASSWD_MAX_STORED_BYTES] = '\0';
	memset(pw, 'w', PASSWD_MAX_PASSWORD_BYTES);
	assert_int_equal(passwd_verify(pw, (PASSWD_MAX_STORED_BYTES - 11) / 2,
	    stored, NULL, err, sizeof(err)), PASSWD_BAD_HASH);	/* odd */
	stored[PASSWD_MAX_STORED_BYTES - 1] = '\0';
	assert_int_equal(verify(pw, (PASSWD_MAX_STORED_BYTES - 12) / 2,
	    stored, NULL), PASSWD_MATCH);
	/* Stored value over the bound. */
	memcpy(stored, "{PLAIN}", 7);
	memset(stored + 7, 'p', PASSWD_MAX_STORED_BYTES + 1 - 7);
	stored[PASSWD_MAX_STORED_BYTES + 1] = '\0';
	assert_int_equal(passwd_verify(pw, 5, stored, NULL, err, sizeof(err)),
	    PASSWD_BAD_HASH);
	/* Password over the bound. */
	memset(pw, 'p', PASSWD_MAX_PASSWORD_BYTES + 1);
	memset(stored + 7, 'p', PASSWD_MAX_PASSWORD_BYTES + 1 - 7);
	stored[PASSWD_MAX_PASSWORD_BYTES] = '\0';
	memcpy(stored, "{SHA512}", 8);
	assert_int_equal(passwd_verify(pw, PASSWD_MAX_PASSWORD_BYTES + 1,
	    "{PLAIN}x", NULL, err, sizeof(err)), PASSWD_MISMATCH);
	assert_non_null(strstr(err, "longer"));

	/* crypt(3) takes less than 512 bytes. */
	memset(pw, 'c', 512);
	h = passwd_hash("SHA512-CRYPT", pw, 511, err, sizeof(err));
	assert_non_null(h);
	assert_int_equal(verify(pw, 511, h, NULL), PASSWD_MATCH);
	assert_int_equal(verify(pw, 510, h, NULL), PASSWD_MISMATCH);
	assert_int_equal(verify(pw, 512, h, NULL), PASSWD_MISMATCH);
	free(h);
	assert_null(passwd_hash("SHA512-CRYPT", pw, 512, err, sizeof(err)));
	/* ARGON2ID has no such limit. */
	memset(pw, 'a', PASSWD_MAX_PASSWORD_BYTES);
	h = passwd_hash("ARGON2ID", pw, PASSWD_MAX_PASSWORD_BYTES, err,
	    sizeof(err));
	assert_non_null(h);
	assert_int_equal(verify(pw, PASSWD_MAX_PASSWORD_BYTES, h, NULL),
	    PASSWD_MATCH);
	free(h);
	assert_null(passwd_hash("ARGON2ID", pw, PASSWD_MAX_PASSWORD_BYTES + 1,
	    err, sizeof(err)));
	free(pw);
	free(stored);
}

/* New hashes: the expected form, fresh salts, and they verify. */
static void
test_hash_round_trip(void **state)
{
	static const struct {
		const char *scheme;
		const char *prefix;
	} cases[] = {
		{ NULL, "{SHA512-CRYPT}$6$" },
		{ "SHA512-CRYPT", "{SHA512-CRYPT}$6$" },
		{ "sha512-crypt", "{SHA512-CRYPT}$6$" },
		{ "ARGON2ID", "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$" },
	};
	char err[256];

	(void)state;
	for (size_t c = 0; c < N_ELEMENTS(cases); c++) {
		for (size_t i = 0; i < N_ELEMENTS(dv_passwords); i++) {
			const char *pw = dv_passwords[i];
			size_t len = strlen(pw);
			char *h1, *h2, buf[PASSWD_SCHEME_NAME_MAX];
			bool plain = true;

			/* Argon2 is slow: one password is enough. */
			if (cases[c].scheme != NULL &&
			    strcmp(cases[c].scheme, "ARGON2ID") == 0 && i > 0)
				break;
			h1 = passwd_hash(cases[c].scheme, pw, len, err,
			    sizeof(err));
			h2 = passwd_hash(cases[c].scheme, pw, len, err,
			    sizeof(err));
			assert_non_null(h1);
			assert_non_null(h2);
			assert_true(has_prefix(h1, cases[c].prefix));
			assert_string_not_equal(h1, h2);
			assert_int_equal(verify(pw, len, h1, &plain),
			    PASSWD_MATCH);
			assert_false(plain);
			assert_int_equal(verify(pw, len, h2, NULL),
			    PASSWD_MATCH);
			assert_int_equal(verify("wrong", 5, h1, NULL),
			    PASSWD_MISMATCH);
			assert_int_equal(verify(pw, len, data_of(h1), NULL),
			    PASSWD_MATCH);
			assert_non_null(passwd_scheme_of(h1, buf,
			    sizeof(buf)));
			free(h1);
			free(h2);
		}
	}
	/* SHA512-CRYPT salts are 16 characters, as doveadm's. */
	{
		char *h = passwd_hash(NULL, "x", 1, err, sizeof(err));

		assert_non_null(h);
		assert_int_equal(strchr(h + 17, '$') - (h + 17), 16);
		free(h);
	}
	err[0] = '\0';
	assert_null(passwd_hash("SSHA512", "x", 1, err, sizeof(err)));
	assert_true(err[0] != '\0');
	assert_null(passwd_hash("PLAIN", "x", 1, err, sizeof(err)));
	assert_null(passwd_hash(NULL, "x\0y", 3, err, sizeof(err)));
	assert_null(passwd_hash(NULL, NULL, 3, err, sizeof(err)));
}

/* A vector of the given Dovecot group (its "{SCHEME}" and a marker). */
static const char *
find_vector(const char *prefix, const char *marker, const char **pw_r)
{
	for (size_t i = 0; i < N_ELEMENTS(dv_vectors); i++) {
		if (has_prefix(dv_vectors[i].hash, prefix) &&
		    (marker == NULL ||
		    strstr(dv_vectors[i].hash, marker) != NULL)) {
			*pw_r = dv_passwords[dv_vectors[i].pw];
			return dv_vectors[i].hash;
		}
	}
	fail_msg("no vector %s", prefix);
	return NULL;
}

/* The cost caps are applied before any work, and can be changed. */
static void
test_limits(void **state)
{
	struct passwd_limits def, l;
	const char *pw, *blf, *sha_r, *argon, *yes, *scram, *pbkdf2;
	char err[256];

	(void)state;
	passwd_get_limits(&def);
	assert_int_equal(def.bcrypt_max_cost, 14);
	assert_int_equal(def.shacrypt_max_rounds, 1000000);
	assert_int_equal(def.pbkdf2_max_rounds, 1000000);
	assert_int_equal(def.memory_max_kib, 262144);
	assert_int_equal(def.argon2_max_t, 16);
	assert_int_equal(def.argon2_max_p, 16);
	assert_int_equal(def.argon2_max_m_times_t, 1048576);

	blf = find_vector("{BLF-CRYPT}$2y$05$", NULL, &pw);
	l = def;
	l.bcrypt_max_cost = 4;
	passwd_set_limits(&l);
	assert_int_equal(passwd_verify(pw, strlen(pw), blf, NULL, err,
	    sizeof(err)), PASSWD_BAD_HASH);
	assert_non_null(strstr(err, "limit"));
	l.bcrypt_max_cost = 5;
	passwd_set_limits(&l);
	assert_int_equal(verify(pw, strlen(pw), blf, NULL), PASSWD_MATCH);

	sha_r = find_vector("{SHA512-CRYPT}$6$rounds=10000$", NULL, &pw);
	l = def;
	l.shacrypt_max_rounds = 9999;
	passwd_set_limits(&l);
	assert_int_equal(passwd_verify(pw, strlen(pw), sha_r, NULL, err,
	    sizeof(err)), PASSWD_BAD_HASH);
	l.shacrypt_max_rounds = 10000;
	passwd_set_limits(&l);
	assert_int_equal(verify(pw, strlen(pw), sha_r, NULL), PASSWD_MATCH);

	argon = find_vector("{ARGON2ID}", NULL, &pw);
	l = def;
	l.memory_max_kib = 65535;
	passwd_set_limits(&l);
	assert_int_equal(passwd_verify(pw, strlen(pw), argon, NULL, err,
	    sizeof(err)), PASSWD_BAD_HASH);
	l = def;
	l.argon2_max_t = 2;
	passwd_set_limits(&l);
	assert_int_equal(passwd_verify(pw, strlen(pw), argon, NULL, err,
	    sizeof(err)), PASSWD_BAD_HASH);
	l = def;
	l.argon2_max_m_times_t = 65536 * 3 - 1;
	passwd_set_limits(&l);
	assert_int_equal(passwd_verify(pw, strlen(pw), argon, NULL, err,
	    sizeof(err)), PASSWD_BAD_HASH);
	l.argon2_max_m_times_t = 65536 * 3;
	passwd_set_limits(&l);
	assert_int_equal(verify(pw, strlen(pw), argon, NULL), PASSWD_MATCH);

	/* yescrypt j9T: N = 4096, r = 32, 16 MiB. */
	yes = find_vector("{CRYPT}$y$j9T$", NULL, &pw);
	l = def;
	l.memory_max_kib = 16383;
	passwd_set_limits(&l);
	assert_int_equal(passwd_verify(pw, strlen(pw), yes, NULL, err,
	    sizeof(err)), PASSWD_BAD_HASH);
	l.memory_max_kib = 16384;
	passwd_set_limits(&l);
	assert_int_equal(verify(pw, strlen(pw), yes, NULL), PASSWD_MATCH);

	scram = find_vector("{SCRAM-SHA-256}4096,", NULL, &pw);
	pbkdf2 = find_vector("{PBKDF2}", "$1000$", &pw);
	l = def;
	l.pbkdf2_max_rounds = 1000;
	passwd_set_limits(&l);
	assert_int_equal(passwd_verify(pw, strlen(pw), scram, NULL, err,
	    sizeof(err)), PASSWD_BAD_HASH);
	assert_int_equal(verify(pw, strlen(pw), pbkdf2, NULL), PASSWD_MATCH);
	l.pbkdf2_max_rounds = 999;
	passwd_set_limits(&l);
	assert_int_equal(passwd_verify(pw, strlen(pw), pbkdf2, NULL, err,
	    sizeof(err)), PASSWD_BAD_HASH);

	passwd_set_limits(&def);
	passwd_get_limits(&l);
	assert_memory_equal(&l, &def, sizeof(l));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dovecot_vectors),
		cmocka_unit_test(test_unprefixed_vectors),
		cmocka_unit_test(test_scheme_of),
		cmocka_unit_test(test_prefix_and_plain),
		cmocka_unit_test(test_crypt_truncation),
		cmocka_unit_test(test_bad_hashes),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_hash_round_trip),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
