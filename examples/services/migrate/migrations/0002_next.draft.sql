-- A draft: excluded by migrate's Dockerfile.dockerignore, so editing it rebuilds nothing.
ALTER TABLE items ADD COLUMN done boolean DEFAULT false;
