"""The registry's Lua scripts: one script per transition, each atomic on the Redis clock.

Every script takes the key prefix as `ARGV[1]` and builds the instance keys itself (fine
on one Redis; a cluster would need hash tags).
"""

PRELUDE = """
local base = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function ikey(id) return base .. 'inst:' .. id end
local function status_of(k)
  if redis.call('HGET', k, 'lease') == 'expired' then return 'critical' end
  return redis.call('HGET', k, 'check') or 'passing'
end
local function restatus(k)
  local new = status_of(k)
  local old = redis.call('HGET', k, 'status') or ''
  if old ~= new then redis.call('HSET', k, 'status', new, 'status_changed_at', now) end
  return {old, new}
end
local function forget(id)
  local k = ikey(id)
  local name = redis.call('HGET', k, 'name')
  redis.call('DEL', k, base .. 'caps:' .. id, base .. 'spec:' .. id)
  redis.call('ZREM', base .. 'leases', id)
  redis.call('ZREM', base .. 'expired', id)
  redis.call('ZREM', base .. 'recent_lapses', id)
  redis.call('SREM', base .. 'instances', id)
  if name then
    redis.call('SREM', base .. 'name:' .. name, id)
    if redis.call('SCARD', base .. 'name:' .. name) == 0 then
      redis.call('SREM', base .. 'names', name)
    end
  end
end
"""

# ARGV: base, id, name, base_url, version, tags, meta, ttl_ms, max_instances, owner
# An id stays bound to the name and owner that first registered it ({-2, name}, {-3, owner});
# every registration gets a new generation (one counter for all), which heartbeats must name.
REGISTER = (
    PRELUDE
    + """
local id, name, url, version = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ttl, owner = tonumber(ARGV[8]), ARGV[10]
local k = ikey(id)
local existed = redis.call('EXISTS', k) == 1
local changed = 0
if existed then
  local v = redis.call('HMGET', k, 'name', 'version', 'base_url', 'owner')
  if v[1] ~= name then return {-2, v[1]} end
  if v[4] and v[4] ~= owner then return {-3, v[4]} end
  if v[2] ~= version or v[3] ~= url then
    changed = 1
    redis.call('HSET', k, 'caps_status', 'pending', 'caps_requested_at', now)
  end
else
  if redis.call('SCARD', base .. 'instances') >= tonumber(ARGV[9]) then return {-1} end
  changed = 1
  redis.call('HSET', k, 'registered_at', now, 'check', 'passing',
    'check_output', 'registered; not probed yet', 'check_time', now,
    'caps_status', 'pending', 'caps_requested_at', now)
end
local generation = redis.call('INCR', base .. 'generation')
redis.call('HSET', k, 'name', name, 'instance_id', id, 'base_url', url, 'version', version,
  'tags', ARGV[6], 'meta', ARGV[7], 'ttl_ms', ttl, 'updated_at', now,
  'last_heartbeat', now, 'lease_expires_at', now + ttl, 'lease', 'alive',
  'owner', owner, 'generation', generation)
redis.call('HDEL', k, 'critical_since')
redis.call('ZADD', base .. 'leases', now + ttl, id)
redis.call('ZREM', base .. 'expired', id)
redis.call('SADD', base .. 'instances', id)
redis.call('SADD', base .. 'names', name)
redis.call('SADD', base .. 'name:' .. name, id)
local s = restatus(k)
return {existed and 0 or 1, changed, s[1], s[2], now + ttl, generation}
"""
)

# ARGV: base, id, generation: {-1, current generation} when it is another registration's
HEARTBEAT = (
    PRELUDE
    + """
local id = ARGV[2]
local k = ikey(id)
if redis.call('EXISTS', k) == 0 then return false end
local current = redis.call('HGET', k, 'generation') or ''
if current ~= ARGV[3] then return {-1, current} end
local ttl = tonumber(redis.call('HGET', k, 'ttl_ms'))
redis.call('HSET', k, 'last_heartbeat', now, 'lease_expires_at', now + ttl, 'lease', 'alive')
redis.call('HDEL', k, 'critical_since')
redis.call('ZADD', base .. 'leases', now + ttl, id)
redis.call('ZREM', base .. 'expired', id)
local s = restatus(k)
return {s[1], s[2], now + ttl, ttl}
"""
)

# ARGV: base, id, generation ('' for any): {-1, current generation} when it is another's
DEREGISTER = (
    PRELUDE
    + """
local id = ARGV[2]
local k = ikey(id)
if redis.call('EXISTS', k) == 0 then return false end
if ARGV[3] ~= '' then
  local current = redis.call('HGET', k, 'generation') or ''
  if current ~= ARGV[3] then return {-1, current} end
end
local v = redis.call('HMGET', k, 'name', 'base_url', 'status')
forget(id)
return v
"""
)

# ARGV: base, id, probed base_url, check status, output
CHECK = (
    PRELUDE
    + """
local id = ARGV[2]
local k = ikey(id)
if redis.call('HGET', k, 'base_url') ~= ARGV[3] then return false end
redis.call('HSET', k, 'check', ARGV[4], 'check_output', ARGV[5], 'check_time', now)
return restatus(k)
"""
)

# ARGV: base, id, fetched base_url, version, caps status, error, count, caps json, spec json
STORE_CAPS = (
    PRELUDE
    + """
local id = ARGV[2]
local k = ikey(id)
local v = redis.call('HMGET', k, 'base_url', 'version')
if v[1] ~= ARGV[3] or v[2] ~= ARGV[4] then return 0 end
redis.call('HSET', k, 'caps_status', ARGV[5], 'caps_error', ARGV[6], 'caps_count', ARGV[7],
  'caps_time', now, 'caps_version', ARGV[4])
if ARGV[5] == 'ok' then
  redis.call('SET', base .. 'caps:' .. id, ARGV[8])
  redis.call('SET', base .. 'spec:' .. id, ARGV[9])
end
return 1
"""
)

# ARGV: base, window_ms, share, min_lapsed, grace_ms, batch
REAP = (
    PRELUDE
    + """
local window, share = tonumber(ARGV[2]), tonumber(ARGV[3])
local min_lapsed, grace, batch = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local leases, expired = base .. 'leases', base .. 'expired'
local recent, state = base .. 'recent_lapses', base .. 'state'
redis.call('ZREMRANGEBYSCORE', recent, '-inf', '(' .. (now - window))
local lapsed = redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, batch)
local total = redis.call('ZCARD', leases) + redis.call('ZCARD', expired)
local sp = redis.call('HGET', state, 'self_preservation') == '1'
local change = ''
local count = redis.call('ZCARD', recent) + #lapsed
if not sp then
  if #lapsed > 0 and count >= min_lapsed and count > share * total then
    sp = true
    change = 'entered'
    redis.call('HSET', state, 'self_preservation', '1', 'since', now, 'lapsed', count,
      'total', total)
  end
else
  local still = redis.call('ZCOUNT', leases, '-inf', now)
  if still < min_lapsed or still <= share * total then
    sp = false
    change = 'exited'
    count = still
    redis.call('HSET', state, 'self_preservation', '0', 'since', now, 'lapsed', still,
      'total', total)
    redis.call('DEL', recent)
  end
end
local criticals, evicted = {}, {}
if not sp then
  for _, id in ipairs(lapsed) do
    local k = ikey(id)
    redis.call('ZREM', leases, id)
    if redis.call('EXISTS', k) == 1 then
      redis.call('ZADD', expired, now, id)
      redis.call('ZADD', recent, now, id)
      redis.call('HSET', k, 'lease', 'expired', 'critical_since', now)
      local s = restatus(k)
      if s[1] ~= s[2] then
        local v = redis.call('HMGET', k, 'name', 'base_url', 'check_output')
        table.insert(criticals, {id, v[1], v[2], s[1], s[2], v[3] or ''})
      end
    end
  end
  local old = redis.call('ZRANGEBYSCORE', expired, '-inf', now - grace, 'LIMIT', 0, batch)
  for _, id in ipairs(old) do
    local v = redis.call('HMGET', ikey(id), 'name', 'base_url', 'status')
    forget(id)
    table.insert(evicted, {id, v[1] or '', v[2] or '', v[3] or ''})
  end
end
return {change, count, total, criticals, evicted}
"""
)

# ARGV: base, fields...; KEYS: none. One round trip for a service's records (the hot read).
READ_SERVICE = """
local base = ARGV[1]
local ids = redis.call('SMEMBERS', base .. 'name:' .. ARGV[2])
local out = {}
for i, id in ipairs(ids) do
  out[i] = redis.call('HMGET', base .. 'inst:' .. id, unpack(ARGV, 3))
end
return out
"""
