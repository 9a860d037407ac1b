-- mtproto.tl: the TL codec (placeholder until the foundation issue lands).
local core = require("mtproto.core")
return core.tl
