rockspec_format = "3.0"
package = "mtproto"
version = "0.2.0-1"
source = {
   url = "git+https://github.com/lua-mtproto/lua-mtproto.git",
   tag = "v0.2.0",
}
description = {
   summary = "Telegram MTProto 2.0 client for Lua 5.4, with a C core",
   detailed = [[
A Telegram client library speaking MTProto 2.0 directly. A sans-IO C core (the TL codec for the
layer-223 schema, MTProto 2.0 crypto, the auth-key handshake, the encrypted session, every
transport) under a blocking TCP driver and a Lua client where every schema method is a Lua
call: client.auth.sendCode{...}. Sessions persist in a file; the login helper walks every login
step (code, email, two-step password, sign-up, QR). Ships a local test DC (mtproto-testdc) that
speaks real MTProto and emulates the login flow, so programs and tests run offline.
]],
   homepage = "https://github.com/lua-mtproto/lua-mtproto",
   license = "MIT",
   labels = { "telegram", "mtproto", "network" },
}
dependencies = { "lua >= 5.4" }
external_dependencies = {
   OPENSSL = { header = "openssl/evp.h", library = "crypto" },
   ZLIB = { header = "zlib.h", library = "z" },
}
build = {
   type = "make",
   build_target = "all",
   -- the Makefile records these and rebuilds everything when they differ from the last build
   build_variables = {
      CC = "$(CC)", CFLAGS = "$(CFLAGS)", LIBFLAG = "$(LIBFLAG)", LUA_INCDIR = "$(LUA_INCDIR)",
      LUA = "$(LUA)",
      OPENSSL_INCDIR = "$(OPENSSL_INCDIR)", OPENSSL_LIBDIR = "$(OPENSSL_LIBDIR)",
      ZLIB_INCDIR = "$(ZLIB_INCDIR)", ZLIB_LIBDIR = "$(ZLIB_LIBDIR)",
   },
   install_variables = {
      CC = "$(CC)", CFLAGS = "$(CFLAGS)", LIBFLAG = "$(LIBFLAG)", LUA_INCDIR = "$(LUA_INCDIR)",
      LUA = "$(LUA)",
      OPENSSL_INCDIR = "$(OPENSSL_INCDIR)", OPENSSL_LIBDIR = "$(OPENSSL_LIBDIR)",
      ZLIB_INCDIR = "$(ZLIB_INCDIR)", ZLIB_LIBDIR = "$(ZLIB_LIBDIR)",
      INST_PREFIX = "$(PREFIX)", INST_BINDIR = "$(BINDIR)", INST_LIBDIR = "$(LIBDIR)",
      INST_LUADIR = "$(LUADIR)",
   },
   -- the command line (the Makefile's install copies it too, for `make install`)
   install = { bin = { mtproto = "bin/mtproto" } },
}
-- busted from the system (Debian's lua-busted) or a rock; the specs find the module, the Lua
-- files and the test DC themselves (spec/helpers.lua, .busted)
test = {
   type = "command",
   command = "busted",
}
