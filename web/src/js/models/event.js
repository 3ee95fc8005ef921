// One event of a project's timeline: who did what, when.
export const Event = Backbone.Model.extend({});
