import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { listBundles } from '../bundles.ts'
import { modelsResponseSchema } from '../schemas.ts'
import type { ScoringService } from '../service.ts'

export const modelRoutes =
  (service: ScoringService): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      '/v1/models',
      {
        config: { access: 'admin' },
        schema: {
          summary: 'Bundles of the served name: versions, metrics, champion and loaded version',
          response: { 200: modelsResponseSchema },
        },
      },
      async () => {
        const loaded = service.model?.manifest.version
        return listBundles(service.config.modelsDir, service.bundleName, loaded)
      },
    )
  }
