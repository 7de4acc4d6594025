-- CreateTable
CREATE TABLE "RevisionApproval" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "revisionId" UUID NOT NULL,
    "userId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "comment" TEXT NOT NULL DEFAULT '',
    "reasons" JSONB NOT NULL DEFAULT '[]',
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "RevisionApproval_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "RevisionApproval_tenantId_revisionId_idx" ON "RevisionApproval"("tenantId", "revisionId");

-- CreateIndex
CREATE UNIQUE INDEX "RevisionApproval_revisionId_userId_key" ON "RevisionApproval"("revisionId", "userId");
