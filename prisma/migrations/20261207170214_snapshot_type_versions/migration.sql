-- AlterTable
ALTER TABLE "Snapshot" ADD COLUMN     "typeVersions" JSONB NOT NULL DEFAULT '{}';
