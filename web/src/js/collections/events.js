// A project's event timeline, newest first (GET /api/v1/project/{id}/events).
import { Event } from '../models/event.js';

export const Events = Backbone.Collection.extend({
  model: Event,

  initialize(models, { projectId }) {
    this.projectId = projectId;
  },

  // Events carry an id (their sort key); fall back to what makes one unique.
  modelId(attrs) {
    return attrs.id || [attrs.at, attrs.kind, attrs.host].join('|');
  },

  url() {
    return `/api/v1/project/${encodeURIComponent(this.projectId)}/events?limit=50`;
  },

  // {events: [...], next_cursor}
  parse(response) {
    return (response && response.events) || [];
  },

  comparator(a, b) {
    return a.get('at') < b.get('at') ? 1 : a.get('at') > b.get('at') ? -1 : 0;
  },
});
