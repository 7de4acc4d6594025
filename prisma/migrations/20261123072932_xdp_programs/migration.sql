-- CreateTable
CREATE TABLE "XdpProgram" (
    "sha256" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "bytes" BYTEA NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "registeredAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "XdpProgram_pkey" PRIMARY KEY ("sha256")
);

-- CreateIndex
CREATE INDEX "XdpProgram_name_registeredAt_idx" ON "XdpProgram"("name", "registeredAt");
