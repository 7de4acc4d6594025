import { ensurePrismaClient } from './lib/prisma-generate';

ensurePrismaClient();
