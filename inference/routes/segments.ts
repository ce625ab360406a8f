import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { errorSchema, segmentsResponseSchema } from '../schemas.ts'
import type { ScoringService } from '../service.ts'

export const segmentRoutes =
  (service: ScoringService): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      '/v1/segments',
      {
        config: { access: 'score' },
        schema: {
          summary: 'Personas of the model in service: size, share and centroid',
          response: { 200: segmentsResponseSchema, 503: errorSchema },
        },
      },
      async () => {
        const { manifest } = service.requireModel()
        const { list } = manifest.personas
        const fitted = list.reduce((total, persona) => total + persona.size, 0)
        return {
          modelVersion: manifest.version,
          personas: list.map(({ id, name, description, size, centroid }) => ({
            id,
            name,
            description,
            size,
            share: fitted === 0 ? 0 : size / fitted,
            centroid,
          })),
        }
      },
    )
  }
