// The phase reports (with output) of one host's current deploy of one project.
export const HostReport = Backbone.Model.extend({
  idAttribute: 'host',

  // GET /api/v1/project/{id}/hosts/{host}/report
  url() {
    return `/api/v1/project/${encodeURIComponent(this.get('project'))}/hosts/` +
      `${encodeURIComponent(this.get('host'))}/report`;
  },
});
