// The data module: loaders for MNIST, Fashion-MNIST, CIFAR-10 and the embedded mnist-10k;
// fetching and verifying the official files; splits; float batches; sample grids.
export { DatasetError, type DatasetErrorCode } from './errors';
export { type ImageSet, type Dataset, imageSize, makeImageSet, subset, concatSets, classCounts } from './types';
export {
  type DatasetSpec,
  type IdxSpec,
  type CifarSpec,
  type EmbeddedSpec,
  type FileSpec,
  type Checksums,
  DATASETS,
  MNIST,
  FASHION_MNIST,
  CIFAR10,
  MNIST_10K,
  datasetNames,
  findSpec,
} from './registry';
export { type DataOptions, type ResolvedDataDir, resolveDataDir, userCacheDir, searchDirs, datasetDir } from './paths';
export { type LoadOptions, loadDataset, clearDatasetCache, locateDataset, howToGet, embeddedSplitIndices } from './load';
export { type FetchOptions, type FetchResult, type DownloadProgress, fetchDataset, downloadFile, mirrorUrls, extractCifar } from './fetch';
export { type DatasetReport, type ListEntry, verifyDataset, listDatasets } from './status';
export { type VerifyResult, verifyFile } from './verify';
export { parseIdxImages, parseIdxLabels, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC } from './idx';
export { CIFAR_RECORD, CIFAR_PIXELS } from './cifar';
export { TarParser, type TarHeader } from './tar';
export { type IndexSplit, validationSplit, stratifiedKFold, epochOrder } from './splits';
export { Xoshiro128ss, shuffleInPlace } from './rng';
export { fillBatch, fillLabels, fillOneHot } from './batch';
export { encodePng, crc32 } from './png';
export { type Grid, pickSamples, renderGrid, gridPng, caption } from './show';
