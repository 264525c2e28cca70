/** One worktree as the dashboard shows it (`GET /api/worktrees` answers a list of these). */
export interface WorktreeView {
  path: string;
  branch?: string;
  main: boolean;
  /** `ready`, `pending` (a phase is still running) or `failed` (a blocking phase failed). */
  state: 'ready' | 'pending' | 'failed';
  /** Set-up, deps, services, each project task: as `git vtree status` reports them. */
  phases: Array<{ name: string; state: string; detail?: string }>;
  /** The stack's containers, from the engine. */
  services: Array<{ service: string; state: string; health?: string; exitCode?: number; urls: Array<{ address: string; url: string; containerPort: number }> }>;
  /** The last known state of its stack (`running`, `failed`, `stopped`, ...). */
  stack?: string;
  /** Leased ports by variable name. */
  ports: Record<string, number>;
  createdAt?: string;
  deps?: string;
  /** The phase that failed, with the last lines of its log. */
  failure?: { phase: string; detail?: string; log?: string; lastLines: string[] };
}

/**
 * The worktrees section as HTML: rendered on the server for the first response, and, through its
 * source text, by the page for each refresh (one renderer, so both draw the same). It must stay
 * self-contained (no outside name) for that; every value goes through `esc`.
 */
export function controlRoomHtml(views: WorktreeView[]): string {
  const esc = (value: unknown): string =>
    String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
  const count = (state: string) => views.filter((v) => v.state === state).length;
  const summary = [`${views.length} worktree${views.length === 1 ? '' : 's'}`, `${count('ready')} ready`];
  if (count('pending')) summary.push(`${count('pending')} setting up`);
  if (count('failed')) summary.push(`${count('failed')} failed`);
  const running = views.reduce((n, v) => n + v.services.filter((s) => s.state === 'running').length, 0);
  summary.push(`${running} container${running === 1 ? '' : 's'} running`);
  const rows = views.map((v) => {
    const name = v.branch ?? '(detached)';
    const phases = v.phases
      .map((p) => `<span class="phase ${esc(p.state)}" title="${esc(p.name + ': ' + p.state + (p.detail ? ' · ' + p.detail : ''))}">${esc(p.name)} <b>${esc(p.state)}</b></span>`)
      .join(' ');
    const services = v.services.length
      ? v.services
          .map((s) => {
            const health = s.health ?? (s.state === 'exited' ? `exit ${s.exitCode ?? '?'}` : '');
            const tone = s.health === 'unhealthy' || (s.state === 'exited' && s.exitCode !== 0) ? 'failed' : s.state === 'running' ? 'done' : 'pending';
            const links = s.urls.map((u) => `<a href="${esc(u.url)}" target="_blank" rel="noopener noreferrer">${esc(u.address)}</a>`).join(' ');
            return `<div class="svc"><span class="phase ${tone}">${esc(s.service)} <b>${esc(s.state + (health ? ' · ' + health : ''))}</b></span> ${links}</div>`;
          })
          .join('')
      : `<span class="muted">${esc(v.stack && v.stack !== 'none' ? 'stack ' + v.stack : 'no stack')}</span>`;
    const ports = Object.entries(v.ports)
      .map(([key, port]) => `<div><code>${esc(key)}</code> ${esc(port)}</div>`)
      .join('');
    const failure = v.failure
      ? // A task's own error already starts with its name (`task seed exited with code 3: ...`).
        `<tr class="failure"><td colspan="5"><b>${esc(v.failure.detail?.startsWith(v.failure.phase) ? v.failure.detail : v.failure.phase + ' failed' + (v.failure.detail ? ': ' + v.failure.detail : ''))}</b>` +
        (v.failure.log ? ` <span class="muted">· log ${esc(v.failure.log)}</span>` : '') +
        (v.failure.lastLines.length ? `<pre>${esc(v.failure.lastLines.join('\n'))}</pre>` : '') +
        '</td></tr>'
      : '';
    return (
      `<tr class="wt ${esc(v.state)}"><td><div class="branch">${esc(name)}${v.main ? ' <span class="muted">(main)</span>' : ''}</div><div class="path muted">${esc(v.path)}</div></td>` +
      `<td><span class="state ${esc(v.state)}">${esc(v.state)}</span>${v.deps ? `<div class="muted">deps: ${esc(v.deps)}</div>` : ''}</td>` +
      `<td>${phases}</td><td>${services}</td><td>${ports || '<span class="muted">none</span>'}</td></tr>${failure}`
    );
  });
  return (
    `<p class="summary" id="worktrees-summary">${esc(summary.join(' · '))}</p>` +
    '<table id="worktrees-table"><thead><tr><th>worktree</th><th>readiness</th><th>set-up phases</th><th>services · URLs</th><th>ports</th></tr></thead>' +
    `<tbody>${rows.join('')}</tbody></table>`
  );
}
