import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { ChartShape, ServiceName } from './chart';

/** A self-signed certificate for 127.0.0.1/localhost (the Ingress's TLS Secret in a cluster). */
export function selfSignedCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '7',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { cert, key };
}

export interface NginxLayout {
  dir: string;
  /** The Ingress: TLS 1.3 only. */
  ingressPort: number;
  /** One plain-HTTP listener per Service (what a ClusterIP Service is in a cluster). */
  servicePorts: Record<ServiceName, number>;
  /** The replicas behind each Service. */
  upstreams: Record<ServiceName, number[]>;
  tls: { cert: string; key: string };
  /**
   * An access log of the Ingress naming the replica that answered each request and the client's
   * `x-ctp-bench-seq` header (the benches correlate their requests with it); off when absent.
   */
  accessLog?: string;
}

const upstreamName = (service: ServiceName) => service.replace(/-/g, '_');

/** nginx's size syntax from an ingress-nginx annotation value (64k, 1m, 8192). */
const size = (value: string | undefined, fallback: string) => (value && /^\d+[kKmM]?$/.test(value) ? value : fallback);
const seconds = (value: string | undefined, fallback: number) => (value && /^\d+$/.test(value) ? `${value}s` : `${fallback}s`);

/**
 * nginx.conf for the topology: the Helm Ingress's routes (exact paths as `location =`, prefixes as
 * `location` with and without the trailing slash, as ingress-nginx does) and its annotations (body
 * limit, timeouts, buffering), TLS 1.3 only, upstreams balanced across replicas with passive health
 * checks (a replica that refuses or times out is skipped for `fail_timeout`; a request that could not
 * be sent goes to the next replica). Anything the Ingress does not route is 404.
 */
export function nginxConf(shape: ChartShape, layout: NginxLayout): string {
  const a = shape.annotations;
  const prefix = 'nginx.ingress.kubernetes.io/';
  const proxy = [
    'proxy_http_version 1.1;',
    'proxy_set_header Connection $connection_upgrade;',
    'proxy_set_header Upgrade $http_upgrade;',
    'proxy_set_header Host $host;',
    'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    'proxy_set_header X-Forwarded-Proto $scheme;',
    'proxy_connect_timeout 2s;',
    `proxy_read_timeout ${seconds(a[`${prefix}proxy-read-timeout`], 60)};`,
    `proxy_send_timeout ${seconds(a[`${prefix}proxy-send-timeout`], 60)};`,
    `proxy_buffering ${a[`${prefix}proxy-buffering`] === 'off' ? 'off' : 'on'};`,
    // Only failures before the request reached a replica move it to the next one (safe for POST).
    'proxy_next_upstream error timeout;',
    'proxy_next_upstream_tries 2;',
  ].join('\n  ');
  const upstreams = Object.entries(layout.upstreams)
    .map(([service, ports]) => `  upstream ${upstreamName(service as ServiceName)} {\n${ports.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=3s;`).join('\n')}\n    keepalive 32;\n  }`)
    .join('\n');
  const locations = shape.routes
    .flatMap((r) => {
      const pass = `{ proxy_pass http://${upstreamName(r.service)}; }`;
      return r.exact ? [`    location = ${r.path} ${pass}`] : [`    location = ${r.path} ${pass}`, `    location ^~ ${r.path}/ ${pass}`];
    })
    .join('\n');
  const services = Object.entries(layout.servicePorts)
    .map(([service, port]) => `  server {\n    listen 127.0.0.1:${port};\n    location / { proxy_pass http://${upstreamName(service as ServiceName)}; }\n  }`)
    .join('\n');
  return `daemon off;
worker_processes 2;
pid ${join(layout.dir, 'nginx.pid')};
error_log ${join(layout.dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  ${layout.accessLog ? `log_format upstream '$http_x_ctp_bench_seq $upstream_addr $status $uri';\n  access_log ${layout.accessLog} upstream;` : 'access_log off;'}
  client_body_temp_path ${join(layout.dir, 'body')};
  proxy_temp_path ${join(layout.dir, 'proxy')};
  fastcgi_temp_path ${join(layout.dir, 'fastcgi')};
  uwsgi_temp_path ${join(layout.dir, 'uwsgi')};
  scgi_temp_path ${join(layout.dir, 'scgi')};
  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
  client_max_body_size ${size(a[`${prefix}proxy-body-size`], '1m')};
  keepalive_requests 100000;
  ${proxy}
${upstreams}
  server {
    listen 127.0.0.1:${layout.ingressPort} ssl http2;
    ssl_certificate ${layout.tls.cert};
    ssl_certificate_key ${layout.tls.key};
    ssl_protocols TLSv1.3;
    location / { return 404; }
    # The Helm Ingress's routes.
${locations}
  }
${services}
}
`;
}
