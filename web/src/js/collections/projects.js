// Every project, sorted by id as the API lists them (GET /api/v1/project, paginated).
import { Project } from '../models/project.js';

export const Projects = Backbone.Collection.extend({
  model: Project,
  url: '/api/v1/project?limit=100',

  // The API wraps the page: {projects: [...], next_cursor}.
  parse(response) {
    this.nextCursor = response.next_cursor || null;
    return response.projects || [];
  },
});
