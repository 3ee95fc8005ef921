// One row of a project's per-host view (target, running version, status, last report).
export const Host = Backbone.Model.extend({
  idAttribute: 'host',

  // The highlight a row gets: lost and failed first, then drift, then silence.
  flag() {
    const status = this.get('status');
    if (status === 'lost' || status === 'failed') return status;
    if (this.get('drift')) return 'drift';
    if (this.get('silent')) return 'silent';
    return '';
  },
});
