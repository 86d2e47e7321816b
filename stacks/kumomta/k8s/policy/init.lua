-- kumod's policy for devstack's KumoMTA stack: every message injected over HTTP goes to devstack's sink.
-- Mounted from the ConfigMap kumomta-policy at /opt/kumomta/etc/policy/. Everything that depends on where the
-- stack runs (namespace, host names, trusted networks) comes from the environment the StatefulSet sets, so
-- nothing here names a namespace. A variable read here and not set there is an error at start, not a silent
-- default (the demo read KUMOMTA_TRUSTED_HOSTS while its values set KUMOMTA_SECONDARY_TRUSTED_HOSTS).
local kumo = require 'kumo'
local shaping = require 'policy-extras.shaping'
local queue_module = require 'policy-extras.queue'
local sources = require 'policy-extras.sources'

local POLICY_DIR = '/opt/kumomta/etc/policy/'
local KEYS_DIR = '/opt/kumomta/etc/http_listener_keys/'

-- The value of an environment variable the StatefulSet must set (it may be empty).
local function setting(name)
  local value = os.getenv(name)
  if value == nil then
    error(string.format('%s is not set: the StatefulSet kumomta sets it for this policy', name))
  end
  return value
end

-- A comma-separated setting as a list, without empty items ('' is the empty list).
local function setting_list(name)
  local items = {}
  for item in string.gmatch(setting(name), '[^,%s]+') do
    table.insert(items, item)
  end
  return items
end

sources:setup { POLICY_DIR .. 'sources.toml' }

-- Traffic shaping, automated by the TSA daemons. kumod publishes its logs to every TSA replica through the
-- per-pod names of the headless Service that is the TSA StatefulSet's serviceName, and reads the generated
-- overrides from any one of them.
local shaper = shaping:setup_with_automation {
  publish = setting_list 'KUMOMTA_TSA_PUBLISH_HOSTS',
  subscribe = setting_list 'KUMOMTA_TSA_SUBSCRIBE_HOSTS',
  extra_files = { POLICY_DIR .. 'shaping.toml' },
}

-- Set up after shaping, as the queue helper requires.
local queue_helper = queue_module:setup { POLICY_DIR .. 'queues.toml' }

kumo.on('init', function()
  -- The spool lives on the replica's PersistentVolumeClaim, mounted at /var/spool/kumomta.
  kumo.define_spool { name = 'data', path = '/var/spool/kumomta/data', kind = 'RocksDB' }
  kumo.define_spool { name = 'meta', path = '/var/spool/kumomta/meta', kind = 'RocksDB' }
  kumo.configure_local_logs { log_dir = '/var/log/kumomta', max_segment_duration = '10 seconds' }

  -- Throttles shared by the replicas, in the Redis-compatible store (dragonfly).
  kumo.configure_redis_throttles { node = setting 'KUMOMTA_REDIS_URL' }

  -- Injection API, metrics and check-liveness, all on 8000. Hosts in KUMOMTA_TRUSTED_HOSTS skip basic auth;
  -- the stack sets none, because a port-forward reaches the pod from 127.0.0.1 and would skip it too.
  kumo.start_http_listener {
    listen = '0.0.0.0:8000',
    trusted_hosts = setting_list 'KUMOMTA_TRUSTED_HOSTS',
  }

  -- SMTP injection on 2500. Only KUMOMTA_RELAY_HOSTS may relay (the cluster's pod networks); anyone else is
  -- refused, a port-forwarded client (127.0.0.1 in the pod) included. The demo's commented-out listener relayed
  -- for 0.0.0.0/0: an open relay.
  kumo.start_esmtp_listener {
    listen = '0.0.0.0:2500',
    relay_hosts = setting_list 'KUMOMTA_RELAY_HOSTS',
  }

  kumo.configure_bounce_classifier {
    files = { '/opt/kumomta/share/bounce_classifier/iana.toml' },
  }
  shaper.setup_publish()
end)

kumo.on('get_egress_path_config', shaper.get_egress_path_config)

-- Messages injected over HTTP: made conformant, queued by tenant, then routed to the sink. routing_domain keeps
-- the recipient's domain as the queue name while the delivery goes to the sink's Service (port 25).
local SINK_HOST = setting 'KUMOMTA_SINK_HOST'
kumo.on('http_message_generated', function(msg)
  local failed = msg:check_fix_conformance(
    'MISSING_COLON_VALUE',
    'LINE_TOO_LONG|NAME_ENDS_WITH_SPACE|NEEDS_TRANSFER_ENCODING|NON_CANONICAL_LINE_ENDINGS|'
      .. 'MISSING_DATE_HEADER|MISSING_MESSAGE_ID_HEADER|MISSING_MIME_VERSION'
  )
  if failed then
    kumo.reject(552, string.format('5.6.0 %s', failed))
  end
  queue_helper:apply(msg)
  msg:set_meta('routing_domain', SINK_HOST)
end)

-- Basic auth for the HTTP listener: the Secret http-listener-keys is mounted at KEYS_DIR, one file per user
-- holding that user's passwords, one per line. The user name is checked before it becomes part of a path, so
-- a name such as '../../etc/passwd' cannot make another file a key file.
local function check_key(user, password)
  if not string.match(user, '^[%w_][%w._-]*$') then
    return false
  end
  local file = io.open(KEYS_DIR .. user, 'r')
  if file == nil then
    return false
  end
  local found = false
  for line in file:lines() do
    if line ~= '' and line == password then
      found = true
    end
  end
  file:close()
  return found
end

local cached_check_key = kumo.memoize(check_key, { name = 'http_listener_keys', ttl = '1 minute', capacity = 64 })

kumo.on('http_server_validate_auth_basic', function(user, password)
  return cached_check_key(user, password)
end)
