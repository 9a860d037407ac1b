--- mtproto.tl: the TL codec (schema layer 223) of mtproto.core, as-is: the C
-- functions are exported directly so that tl.encode/tl.decode cost no extra call.
--   tl.encode(obj) -> bytes                      (raises on bad input, naming the path)
--   tl.decode(bytes [, offset]) -> obj, n | nil, err
--   tl.decode_result(method, bytes [, offset]) -> value, n | nil, err
--   tl.call(conn, method, params [, timeout]) -> value | nil, err, bytes | nil, err, nil, true
--   tl.load(path), tl.load_string(text) -> count | nil, err
--   tl.info(name), tl.methods(), tl.constructors(), tl.layer
--   tl.gzip(s), tl.gunzip(s [, max]), tl.crc32(s), tl.canonical(line)
-- See README.md, "The TL codec: Lua mapping".
-- @module mtproto.tl
local core = require("mtproto.core")
return core.tl
