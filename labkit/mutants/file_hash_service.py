"""Mistakes students make in file_hash_service (see labkit/mutants/__init__.py)."""

from labkit.mutants import Mutant

OPEN = "            file = open_beneath(self.root_fd, self.root, request.path)\n"
OUTSIDE = ('                context.abort(grpc.StatusCode.PERMISSION_DENIED,\n'
           '                              f"{request.path}: outside the folder this file '
           'service serves")\n')

MUTANTS = [
    # --- the file service stays inside its root (central) -----------------------------------
    Mutant("opens-the-path-as-asked", "file_service.py", OPEN,
           '            file = open(self.root / request.path, "rb")\n',
           "the file service opens root / path: `..` and symlinks lead out of the root",
           central=True),
    Mutant("prefix-check-after-resolving", "file_service.py", OPEN,
           "            real = os.path.realpath(os.path.join(self.root, request.path))\n"
           "            if not real.startswith(str(self.root)):\n"
           + OUTSIDE +
           '            file = open(real, "rb")\n',
           "confinement checked by string prefix after resolving: with the root `root`, "
           "`../root-other/x` passes", central=True),
    Mutant("dot-dot-check-follows-symlinks", "file_service.py", OPEN,
           "            path = os.path.normpath(os.path.join(self.root, request.path))\n"
           "            if os.path.commonpath([path, str(self.root)]) != str(self.root):\n"
           + OUTSIDE +
           '            file = open(path, "rb")\n',
           "`..` is checked on the path's text, but a symlink inside the root pointing out "
           "is followed", central=True),
    # --- the chain hashes every byte (central) ----------------------------------------------
    Mutant("reply-without-size", "file_service.py",
           "            return HashFileReply(path=request.path, size=reply.size,\n"
           "                                 hex_digest=reply.hex_digest)",
           "            return HashFileReply(path=request.path, hex_digest=reply.hex_digest)",
           "the HashFileReply leaves out the file's size", central=True),
    Mutant("first-chunk-lost", "file_service.py",
           "    while data := file.read(chunk_size):\n        yield Chunk(data=data)",
           "    data = file.read(chunk_size)\n"
           "    while data:\n"
           "        data = file.read(chunk_size)\n"
           "        yield Chunk(data=data)",
           "read_chunks reads the next chunk before sending the one it has: the first chunk "
           "is lost", central=True),
    Mutant("whole-file-in-one-message", "file_service.py",
           "                read_chunks(file, self.chunk_size), timeout=time_left(context))\n",
           "                iter([Chunk(data=file.read())]), timeout=time_left(context))\n",
           "the whole file goes in one Chunk: a file over gRPC's 4 MB limit cannot be hashed",
           central=True),
    Mutant("hashes-locally", "file_service.py",
           "            hash_call = self.hash_stub.ShaStream.future(\n",
           "            import hashlib\n"
           "            data = file.read()\n"
           "            return HashFileReply(path=request.path, size=len(data),\n"
           "                                 hex_digest=hashlib.sha256(data).hexdigest())\n"
           "            hash_call = self.hash_stub.ShaStream.future(\n",
           "the file service computes SHA-256 itself instead of calling the hash service",
           central=True),
    Mutant("stream-hashes-only-the-last-chunk", "hash_service.py",
           "            digest.update(chunk.data)\n",
           "            digest = hashlib.sha256(chunk.data)\n",
           "ShaStream starts a new SHA-256 for every chunk: the digest is that of the last one",
           central=True),
    Mutant("stream-size-counts-chunks", "hash_service.py",
           "            size += len(chunk.data)\n",
           "            size += 1\n",
           "ShaStream's size counts the chunks, not their bytes", central=True),
    Mutant("cpp-chunk-read-as-a-c-string", "hash_service.cpp",
           "  sha->Update(chunk.data());\n",
           "  sha->Update(chunk.data().c_str());\n",
           "the C++ server passes a chunk's bytes as a C string: everything from its first "
           "zero byte on is lost", central=True),
    # --- deadlines and the client ------------------------------------------------------------
    Mutant("no-deadline-downstream", "file_service.py",
           "                read_chunks(file, self.chunk_size), timeout=time_left(context))\n",
           "                read_chunks(file, self.chunk_size))\n",
           "the file service calls ShaStream without its caller's deadline: a silent hash "
           "service holds its worker forever"),
    Mutant("client-without-deadline", "client.py",
           "stub.HashFile.future(HashFileRequest(path=path), timeout=deadline)",
           "stub.HashFile.future(HashFileRequest(path=path))",
           "the client's call has no deadline: a silent file service hangs it forever"),
    Mutant("client-calls-without-future", "client.py",
           "    return stub.HashFile.future(HashFileRequest(path=path), timeout=deadline)",
           "    return stub.HashFile(HashFileRequest(path=path), timeout=deadline)",
           "the client makes a blocking call and returns the reply where a future is "
           "expected"),
]
