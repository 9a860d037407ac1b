package = "mtproto"
version = "scm-1"
source = { url = "git+https://example.invalid/lua-mtproto.git" }
description = {
   summary = "Telegram MTProto 2.0 client for Lua 5.4, with a C core",
   detailed = [[
A sans-IO C core (TL codec for the layer-223 schema, MTProto 2.0 crypto, the
auth-key handshake, the encrypted session, the transports) with a blocking TCP
driver and a Lua client where every schema method is a Lua call. Ships a local
test DC (mtproto-testdc) that speaks real MTProto and emulates the login flow.
]],
   license = "MIT",
}
dependencies = { "lua >= 5.4" }
external_dependencies = {
   OPENSSL = { header = "openssl/evp.h", library = "crypto" },
   ZLIB = { header = "zlib.h", library = "z" },
}
build = {
   type = "make",
   build_target = "all",
   build_variables = {
      CFLAGS = "$(CFLAGS)", LIBFLAG = "$(LIBFLAG)", LUA_INCDIR = "$(LUA_INCDIR)", LUA = "$(LUA)",
   },
   install_variables = {
      INST_PREFIX = "$(PREFIX)", INST_BINDIR = "$(BINDIR)", INST_LIBDIR = "$(LIBDIR)",
      INST_LUADIR = "$(LUADIR)",
   },
}
