import { describe, expect, it } from 'vitest';
import { SanitizeError } from '../../src/sanitizer/index.js';
import { found, sanitizer } from './sanitizer-helpers.js';

// Each row: a text, and exactly what must be found in it (pattern and original).
const POSITIVES: readonly (readonly [string, string, readonly string[]])[] = [
  // infra: the declared identifiers of infra.example.yml
  ['infra', 'ssh into pro-dev now', ['infra.instance pro-dev']],
  ['infra', 'the bridge net-ai-tools is up', ['infra.bridge net-ai-tools']],
  ['infra', 'gpu-server runs Ollama', ['infra.instance gpu-server']],
  ['infra', 'ping 10.110.0.10 and 10.110.0.254', ['infra.address 10.110.0.10', 'infra.address 10.110.0.254']],
  ['infra', 'route 10.120.0.0/24 via net-pro', ['infra.subnet 10.120.0.0/24', 'infra.bridge net-pro']],
  ['infra', 'domain ai-tools has the GPU', ['infra.domain ai-tools']],
  ['infra', 'host my-workstation', ['infra.project my-workstation']],
  ['infra', 'incus list --project pro', ['infra.domain pro']],
  ['infra', 'project: client', ['infra.domain client']],
  ['infra', '{"domain": "perso"}', ['infra.domain perso']],
  ['infra', 'pro-dev.internal', ['infra.instance pro-dev']],
  // ip
  ['ip', 'at 10.130.2.7 and 10.3.4.5', ['ip.anklume-zone 10.130.2.7', 'ip.rfc1918-a 10.3.4.5']],
  ['ip', 'hosts 172.16.0.1, 172.31.255.254 and 192.168.1.20', ['ip.rfc1918-b 172.16.0.1', 'ip.rfc1918-b 172.31.255.254', 'ip.rfc1918-c 192.168.1.20']],
  ['ip', 'lan 192.168.10.0/24 and 10.200.0.0/16', ['ip.cidr 192.168.10.0/24', 'ip.cidr 10.200.0.0/16']],
  ['ip', 'root@192.168.1.5:22 [10.9.9.9]', ['ip.rfc1918-c 192.168.1.5', 'ip.rfc1918-a 10.9.9.9']],
  ['ip', 'range 10.1.1.10-10.1.1.20.', ['ip.rfc1918-a 10.1.1.10', 'ip.rfc1918-a 10.1.1.20']],
  // ip: IPv6 (link-local, unique-local, any notation) and MAC addresses (any notation)
  ['ip', 'ping fe80::1266:6aff:fe70:de4%eth0', ['ip.ipv6-link-local fe80::1266:6aff:fe70:de4']],
  ['ip', 'inet6 fd42:5a17:d2c0:7e1b:1266:6aff:fe70:de4/64 scope global', ['ip.ipv6-ula fd42:5a17:d2c0:7e1b:1266:6aff:fe70:de4/64']],
  ['ip', 'curl http://[fd42:5a17:d2c0:7e1b::1]:8080/ and FD42:5A17:D2C0:7E1B:0000:0000:0000:0002', ['ip.ipv6-ula fd42:5a17:d2c0:7e1b::1', 'ip.ipv6-ula FD42:5A17:D2C0:7E1B:0000:0000:0000:0002']],
  ['ip', 'IP6 fd42:1::5.40124 > fd42:1::6.80: Flags [S]', ['ip.ipv6-ula fd42:1::5', 'ip.ipv6-ula fd42:1::6']],
  ['ip', 'link/ether 10:66:6a:70:0d:e4 brd ff:ff:ff:ff:ff:ff', ['ip.mac 10:66:6a:70:0d:e4']],
  ['ip', 'MAC Address: 10:66:6A:67:8A:8F (Unknown), 00-16-3E-12-34-56, 0016.3e12.3456', ['ip.mac 10:66:6A:67:8A:8F', 'ip.mac 00-16-3E-12-34-56', 'ip.mac 0016.3e12.3456']],
  ['ip', 'tcpdump: 10.1.2.3.56224 > 10.1.2.4.80: Flags [S]', ['ip.rfc1918-a 10.1.2.3', 'ip.rfc1918-a 10.1.2.4']],
  // `/10:66:…` after an address begins a MAC, not a prefix length that would hide the rest of it.
  ['ip', 'fe80::1:fe12:1/10:66:6a:00:00:00 and 10.1.2.3/10:66:6a:01:02:03', ['ip.ipv6-link-local fe80::1:fe12:1', 'ip.mac 10:66:6a:00:00:00', 'ip.rfc1918-a 10.1.2.3', 'ip.mac 10:66:6a:01:02:03']],
  ['ip', 'subnets fd42:1::/64: and 10.1.2.0/24: here', ['ip.ipv6-ula fd42:1::/64', 'ip.cidr 10.1.2.0/24']],
  // ordinary-word domains where the structure names them
  ['infra', '[pro]\nweb1\n[perso:vars]\nx=1\n[client:children]', ['infra.domain pro', 'infra.domain perso', 'infra.domain client']],
  ['infra', '- hosts: pro\n  tasks: []\nPLAY [perso] ****', ['infra.domain pro', 'infra.domain perso']],
  ['infra', 'network_policies:\n  - from: pro\n    to: ai-tools', ['infra.domain pro', 'infra.domain ai-tools']],
  ['infra', 'domains:\n  pro:\n    trust_level: trusted\n  perso:\n    x: 1', ['infra.domain pro', 'infra.domain perso']],
  ['infra', '{"children": ["ungrouped", "pro"], "client": {"hosts": []}}', ['infra.domain pro', 'infra.domain client']],
  ['infra', '| pro (current) | YES | NO |\n| perso | NO |', ['infra.domain pro', 'infra.domain perso']],
  ['infra', '  |--@pro:\n  |  |--web-1', ['infra.domain pro', 'ansible.host web-1']],
  // incus: prefixed and suffixed names
  ['incus', 'containers/pro_pro-web and custom/ai-tools_models', ['incus.volume pro_pro-web', 'incus.volume ai-tools_models']],
  ['fqdn', 'Nmap scan report for web-7.incus (10.9.9.9)', ['fqdn.incus web-7.incus', 'ip.rfc1918-a 10.9.9.9']],
  // incus
  ['incus', 'the old bridge net-lab2', ['incus.bridge net-lab2']],
  ['incus', 'perso-laptop and ai-tools-2', ['incus.instance perso-laptop', 'incus.instance ai-tools-2']],
  ['incus', 'client-vpn is down', ['incus.instance client-vpn']],
  ['incus', '$ incus exec web-01 -- bash -c "ls"', ['incus.command web-01']],
  ['incus', 'run `incus launch images:debian/13 build-box --project team` first', ['incus.command build-box', 'incus.command team']],
  ['incus', 'sudo incus network create net-lab9', ['incus.command net-lab9']],
  ['incus', 'incus config set builder limits.cpu 2', ['incus.command builder']],
  ['incus', 'incus file push ./a.txt builder/root/a.txt', ['incus.command builder']],
  // fqdn
  ['fqdn', 'db01.acme.corp and nas.local, gw.lan, vault.internal', ['fqdn.corp db01.acme.corp', 'fqdn.local nas.local', 'fqdn.lan gw.lan', 'fqdn.internal vault.internal']],
  ['fqdn', 'realm CORP.EXAMPLE.LOCAL', ['fqdn.local CORP.EXAMPLE.LOCAL']],
  ['fqdn', 'mail alice@mail.acme.corp.', ['fqdn.corp mail.acme.corp']],
  // service
  ['service', 'socket /var/lib/incus/unix.socket.', ['service.incus-socket /var/lib/incus/unix.socket']],
  ['service', 'logs in /var/log/incus/lxd.log', ['service.incus-path /var/log/incus/lxd.log']],
  ['service', 'OLLAMA_HOST=http://ollama-box:11434', ['service.ollama ollama-box']],
  ['service', 'see http://172.20.0.5:8080/metrics', ['service.url 172.20.0.5']],
  // ansible
  ['ansible', 'web ansible_host=203.0.113.7 ansible_user=ops', ['ansible.host 203.0.113.7']],
  ['ansible', 'ansible_host: "db01.example.com"', ['ansible.host db01.example.com']],
  ['ansible', 'edit group_vars/webservers.yml and host_vars/db01/vars.yml', ['ansible.group-vars webservers', 'ansible.host-vars db01']],
  ['ansible', 'inventory/staging/hosts.ini', ['ansible.inventory staging']],
  // credentials
  ['credentials', 'curl -H "Authorization: Bearer abc123def456ghi789"', ['credentials.authorization abc123def456ghi789']],
  ['credentials', 'Bearer 9f8e7d6c5b4a39281706', ['credentials.bearer 9f8e7d6c5b4a39281706']],
  ['credentials', 'x-api-key: k3yV4lu3-xyz', ['credentials.api-key k3yV4lu3-xyz']],
  ['credentials', 'password=hunter22 then PGPASSWORD="s3cr3t!"', ['credentials.password hunter22', 'credentials.password s3cr3t!']],
  ['credentials', 'db_password: correct-horse-battery', ['credentials.password correct-horse-battery']],
  ['credentials', '{"client_secret": "q9Wv!x2"}', ['credentials.secret q9Wv!x2']],
  ['credentials', 'https://api.example.com/x?access_token=abcd1234&page=2', ['credentials.token abcd1234']],
  ['credentials', 'mysql --password s3cretpw -h db', ['credentials.password s3cretpw']],
  ['credentials', 'postgres://app:Pa55word@db.example.com/app', ['credentials.url-password Pa55word']],
  ['credentials', 'redis://:s3cretpw@cache:6379/0 and amqp://guest:gu3st@rabbit/', ['credentials.url-password s3cretpw', 'credentials.url-password gu3st']],
  ['credentials', "sshpass -p 'Tr0ub4dor' ssh root@db", ['credentials.command-password Tr0ub4dor']],
  ['credentials', 'mysql -u root -pHunter22 app; mysql -u root -p app', ['credentials.command-password Hunter22']],
  ['credentials', 'curl -s -u admin:Adm1n-pw https://x/ && redis-cli -a R3dis-pw ping', ['credentials.command-password Adm1n-pw', 'credentials.command-password R3dis-pw']],
  ['credentials', 'smbclient //srv/share -U alice%Wonder1and', ['credentials.command-password Wonder1and']],
  ['credentials', '\t0x0000:  4500 003c 26ed 4000 4006 435f 0abb 5da2  E..<&.@.@.C_..].\n\t0x0010:  0abb 5d58                                ..]X', ['credentials.payload 0x0000:  4500 003c 26ed 4000 4006 435f 0abb 5da2  E..<&.@.@.C_..].\n\t0x0010:  0abb 5d58                                ..]X']],
  // service: versions generalised, product kept
  ['service', '22/tcp   open  ssh     OpenSSH 9.2p1 Debian 2+deb12u3 (protocol 2.0)', ['service.version 9.2p1 Debian 2+deb12u3']],
  ['service', 'banner SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3', ['service.version 9.2p1 Debian-2+deb12u3']],
  ['credentials', 'key AKIAIOSFODNN7EXAMPLE', ['credentials.aws-access-key AKIAIOSFODNN7EXAMPLE']],
  ['credentials', 'ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789', ['credentials.github-token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789']],
  ['credentials', 'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuv', ['credentials.github-token github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuv']],
  ['credentials', 'sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345', ['credentials.anthropic-key sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345']],
  ['credentials', 'sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12', ['credentials.openai-key sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12']],
  ['credentials', 'xoxb-123456789012-abcdefABCDEF', ['credentials.slack-token xoxb-123456789012-abcdefABCDEF']],
  ['credentials', 'glpat-Ab12Cd34Ef56Gh78Ij90', ['credentials.gitlab-token glpat-Ab12Cd34Ef56Gh78Ij90']],
  ['credentials', 'jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U', ['credentials.jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U']],
  ['credentials', 'blob Zm9vYmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3A= end', ['credentials.base64 Zm9vYmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3A=']],
];

describe('detection: what each category finds', () => {
  it.each(POSITIVES)('%s: %s', (_category, text, expected) => {
    expect(found(text)).toEqual(expected);
  });

  it('masks a whole private key block and keeps its armour lines', () => {
    const key = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACDxZ2ZpbmdlcnByaW50\n-----END OPENSSH PRIVATE KEY-----';
    const out = sanitizer().sanitize(`key:\n${key}\ndone`);
    expect(out.text).toBe('key:\n-----BEGIN OPENSSH PRIVATE KEY-----\n[REDACTED]\n-----END OPENSSH PRIVATE KEY-----\ndone');
    expect(out.replacements.map((r) => r.pattern)).toEqual(['credentials.private-key']);
  });

  it('masks a private key cut short to its last line', () => {
    const out = sanitizer().sanitize('-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn\nQWERTY12345\n\nsee above');
    expect(out.text).toBe('-----BEGIN RSA PRIVATE KEY-----\n[REDACTED]\n\nsee above');
  });

  it('ranks a credential above an address inside it, and a declared name above a generic pattern', () => {
    expect(found('password=10.1.2.3')).toEqual(['credentials.password 10.1.2.3']);
    expect(found('ansible_host=10.110.0.10')).toEqual(['infra.address 10.110.0.10']);
    expect(found('incus exec pro-dev -- bash')).toEqual(['infra.instance pro-dev']);
    expect(found('http://10.120.0.10:11434/api/chat')).toEqual(['infra.address 10.120.0.10']);
  });
});

// Ordinary text that must come out unchanged.
const NEGATIVES: readonly (readonly [string, string])[] = [
  ['prose', 'The project is a pro-level tool for professional clients; prose matters. Every client gets a sandbox.'],
  ['common-word domains', 'the HTTP client, a pro user, perso stuff, the anklume CLI, a sandbox, shared memory'],
  ['hyphenated words', 'a well-known, net-zero, net-new, client-side, pro-rata, state-of-the-art approach'],
  ['versions', 'v1.2.3.4, version 10.1.2.3, release 10.0.0.1, Node 20.19.5, 10.1.2.3-rc1, 1.10.1.2.3, 10.1.2.3.4'],
  ['public and special addresses', '8.8.8.8 1.1.1.1 127.0.0.1 100.64.0.1 169.254.1.1 203.0.113.5 0.0.0.0'],
  ['invalid octets and leading zeros', '10.256.1.1, 192.168.1.300, 10.01.2.3, 192.168.001.1'],
  ['generic RFC 1918 blocks', 'private ranges are 10.0.0.0/8, 172.16.0.0/12 and 192.168.0.0/16'],
  ['model names', 'claude-sonnet-4-5, claude-opus-4-1-20250805, gpt-4.1, gpt-4o-mini, llama3.1:8b, qwen2.5-coder:32b, mistral:7b'],
  ['hashes', 'commit 3f786850e387550fdab836ed7e6dc881de23001b and sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
  ['SRI integrity', '"integrity": "sha512-Nx3p7Qh2LkW9vB4mYc8sR1tZ6uE0oI5aD3fG7hJ2kL4nP6qS8uV0wX2yZ4bC6dE8fG0hI2jK4lM6nO8pQ0rS2tU4vW6xY8z=="'],
  ['UUIDs', 'request 3f2b8c1e-7d4a-4e9b-a5c6-1d2e3f4a5b6c and 550E8400-E29B-41D4-A716-446655440000'],
  ['code', 'const token = getToken(); password=args.password; max_tokens=4096; token_type: bearer; secretRef: x'],
  ['type annotations', 'interface Login { password: string; token?: Optional[str]; secret: boolean }'],
  ['placeholders', 'Authorization: Bearer $TOKEN, api_key: YOUR_API_KEY, password=${DB_PASSWORD}, token: <token>, password: ***'],
  ['bearer prose', 'send a Bearer token in the Authorization header; Bearer authentication is simple'],
  ['code properties', 'this.local = 1; self.lan; config.local.json; ~/.local/share; my_host.local'],
  ['paths and identifiers', 'src/sanitizer/detect/credentials.ts and getUserAccountSettingsFromServerCache and SOME_LONG_CONSTANT_NAME_FOR_TESTS_V2'],
  ['incus in prose', 'Incus is great; we use incus list to see instances and the incus daemon'],
  ['file paths', 'inventory/hosts.ini and group_vars/all.yml'],
  ['times and ratios', '12:30:45, 2026-12-05 01:22:23.851512, 10:30-11:45, 16:9, a:b:c'],
  ['special IPv6', 'loopback ::1, any ::, all-nodes ff02::1, docs 2001:db8::1, public 2606:4700::1111, fe80::/10, C++ std::vector and a::b::c'],
  ['special MACs', 'ff:ff:ff:ff:ff:ff 00:00:00:00:00:00 33:33:00:00:00:01 01:00:5e:00:00:fb'],
  ['ordinary words in prose', 'a pro tip: the client said that [pro] is a tag; hosts: web; from: alice@example.com'],
  ['client_secret is no volume', 'client_secret_name and pro_tips'],
  ['versions outside scan output', 'OpenSSH 9.2p1 is in Debian 12; nginx/1.22.1'],
];

describe('detection: no false positives', () => {
  it.each(NEGATIVES)('%s', (_what, text) => {
    const out = sanitizer().sanitize(text);
    expect(out.replacements).toEqual([]);
    expect(out.text).toBe(text);
  });
});

describe('detection: switches, allow list and extra patterns', () => {
  const text = 'pro-dev at 10.110.0.10 and 192.168.1.5, net-lab2, db.acme.corp, /var/lib/incus/unix.socket, ansible_host=8.8.4.4, password=hunter22';

  it('detects nothing of a switched-off category, but always the declared identifiers', () => {
    const off = { ip: false, incus: false, fqdn: false, service: false, ansible: false, credentials: false };
    expect(found(text, { categories: off })).toEqual(['infra.instance pro-dev', 'infra.address 10.110.0.10']);
  });

  it('switches each category independently', () => {
    expect(found(text, { categories: { credentials: false } })).not.toContain('credentials.password hunter22');
    expect(found(text, { categories: { ip: false } })).not.toContain('ip.rfc1918-c 192.168.1.5');
    expect(found(text, { categories: { fqdn: false } })).not.toContain('fqdn.corp db.acme.corp');
    expect(found(text, { categories: { ansible: false } })).not.toContain('ansible.host 8.8.4.4');
    expect(found(text, { categories: { service: false } })).not.toContain('service.incus-socket /var/lib/incus/unix.socket');
    expect(found(text, { categories: { incus: false } })).not.toContain('incus.bridge net-lab2');
    expect(found(text)).toHaveLength(8);
  });

  it('never replaces a value of the allow list', () => {
    expect(found('pro-dev and 192.168.1.5', { allow: ['192.168.1.5'] })).toEqual(['infra.instance pro-dev']);
  });

  it('finds extra patterns, whole tokens only, with a `value` group when there is one', () => {
    const extraPatterns = [
      { name: 'ticket', regex: 'ACME-\\d{3,}' },
      { name: 'customer', regex: 'customer=(?<value>[a-z]+)' },
    ];
    expect(found('see ACME-1234, not XACME-1234; customer=globex', { extraPatterns })).toEqual(['custom.ticket ACME-1234', 'custom.customer globex']);
    expect(sanitizer({ extraPatterns }).sanitize('ACME-1234').text).toBe('[TICKET]');
  });

  it('refuses a bad extra pattern when the sanitizer is built', () => {
    expect(() => sanitizer({ extraPatterns: [{ name: 'bad', regex: '(unclosed' }] })).toThrow(SanitizeError);
    expect(() => sanitizer({ extraPatterns: [{ name: 'bad', regex: '(unclosed' }] })).toThrow(/extra pattern "bad": invalid regular expression/);
    expect(() => sanitizer({ extraPatterns: [{ name: 'empty', regex: 'x*' }] })).toThrow(/matches the empty string/);
  });
});

describe('mask mode', () => {
  it("uses the spec's generic markers", () => {
    const out = sanitizer().sanitize('10.120.0.5 net-pro Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig12345');
    expect(out.text).toBe('10.ZONE.SEQ.HOST net-DOMAIN Bearer [REDACTED]');
  });

  it('keeps what is not sensitive around each marker', () => {
    const out = sanitizer().sanitize('pro-dev 10.110.0.0/24 192.168.1.5 172.20.1.1 10.3.3.3 db.acme.corp group_vars/web.yml /var/lib/incus/unix.socket ai-tools');
    expect(out.text).toBe('DOMAIN-MACHINE 10.ZONE.SEQ.0/24 192.168.X.X 172.X.X.X 10.X.X.X HOST.corp group_vars/GROUP.yml [INCUS_SOCKET] DOMAIN');
  });

  it('restores nothing: the markers stay', () => {
    const s = sanitizer();
    const masked = s.sanitize('pro-dev').text;
    expect(s.restore(masked)).toBe(masked);
    const stream = s.streamRestorer();
    expect(stream.push(masked) + stream.flush()).toBe(masked);
  });

  it('lists each replaced value once, in order of appearance', () => {
    expect(found('pro-dev, pro-dev, 10.110.0.10, pro-dev')).toEqual(['infra.instance pro-dev', 'infra.address 10.110.0.10']);
  });
});

describe('failing closed', () => {
  it('throws SanitizeError for what is not a string', () => {
    expect(() => sanitizer().sanitize(42 as unknown as string)).toThrow(SanitizeError);
  });

  it('throws SanitizeError when the mapping store fails', () => {
    const broken = { originalOf: () => undefined, pseudonymOf: () => undefined, record: () => { throw new Error('disk full'); } };
    const s = sanitizer({ mode: 'pseudonymize', mapping: broken });
    expect(() => s.sanitize('pro-dev')).toThrow(/sanitizing failed: disk full/);
  });

  it('refuses pseudonymize without a mapping store or with a short secret', () => {
    expect(() => sanitizer({ mode: 'pseudonymize', mapping: undefined as never })).toThrow(/needs a mapping store/);
    expect(() => sanitizer({ mode: 'pseudonymize', secret: new Uint8Array(8) })).toThrow(/at least 16 bytes/);
  });
});
